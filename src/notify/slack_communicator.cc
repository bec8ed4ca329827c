#include "notify/slack_communicator.h"

#include <utility>

#include "notify/slack_messages.h"

namespace concierge {

namespace {

// Fills the crop placeholder with the file, or drops it when there is none.
nlohmann::json WithImage(const nlohmann::json& blocks, const std::string& file_id) {
  if (!blocks.is_array()) return blocks;
  nlohmann::json out = nlohmann::json::array();
  for (const auto& b : blocks) {
    if (b.value("type", "") != "image" || b.value("block_id", "") != kCropBlockId) {
      out.push_back(b);
    } else if (!file_id.empty()) {
      nlohmann::json image = b;
      image["slack_file"] = {{"id", file_id}};
      out.push_back(std::move(image));
    }
  }
  return out;
}

}  // namespace

std::string SlackReceipt::ToString() const {
  return channel + ":" + ts + (file_id.empty() ? "" : ":" + file_id);
}

Result<SlackReceipt> ParseSlackReceipt(const std::string& receipt) {
  const size_t a = receipt.find(':');
  if (a == std::string::npos || a == 0 || a + 1 >= receipt.size())
    return Status::InvalidArgument("not a slack receipt: '" + receipt + "'");
  const size_t b = receipt.find(':', a + 1);
  SlackReceipt r;
  r.channel = receipt.substr(0, a);
  r.ts = receipt.substr(a + 1, b == std::string::npos ? std::string::npos : b - a - 1);
  if (b != std::string::npos) r.file_id = receipt.substr(b + 1);
  return r;
}

SlackCommunicator::SlackCommunicator(std::shared_ptr<SlackClient> client,
                                     std::string default_channel, ImageLoader images)
    : client_(std::move(client)),
      default_channel_(std::move(default_channel)),
      images_(std::move(images)) {}

Result<std::string> SlackCommunicator::Publish(const Notification& n) {
  const std::string channel = n.channel.empty() ? default_channel_ : n.channel;
  const nlohmann::json& p = n.payload;
  if (!p.is_object() || !p.contains("text") || !p["text"].is_string())
    return Status::InvalidArgument("slack notification '" + n.kind + "' has no text");
  const std::string text = p["text"].get<std::string>();
  SlackReceipt receipt{channel, "", p.value("image_file", "")};
  const std::string image_key = p.value("image_key", "");
  if (receipt.file_id.empty() && !image_key.empty() && images_) {
    Result<std::string> bytes = images_(image_key);
    if (bytes.ok()) {
      ASSIGN_OR_RETURN(receipt.file_id, client_->UploadImage("", "face.jpg", *bytes, "Face"));
    } else if (bytes.status().code() != Status::Code::kNotFound) {
      return Status::Unavailable("reading " + image_key + ": " + bytes.status().message());
    }
  }
  const nlohmann::json blocks = WithImage(p.value("blocks", nlohmann::json()), receipt.file_id);
  if (auto ts = p.find("update_ts"); ts != p.end() && ts->is_string()) {
    RETURN_IF_ERROR(client_->UpdateMessage(channel, ts->get<std::string>(), blocks, text));
    receipt.ts = ts->get<std::string>();
    return receipt.ToString();
  }
  const nlohmann::json metadata = {
      {"event_type", "concierge_notification"},
      {"event_payload", {{"kind", n.kind}, {"idempotency_key", n.idempotency_key}}}};
  ASSIGN_OR_RETURN(SlackMessageRef ref, client_->PostMessage(channel, blocks, text, metadata));
  receipt.channel = ref.channel;
  receipt.ts = ref.ts;
  return receipt.ToString();
}

}  // namespace concierge
