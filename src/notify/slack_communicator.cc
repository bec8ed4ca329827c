#include "notify/slack_communicator.h"

#include <utility>

namespace concierge {

SlackCommunicator::SlackCommunicator(std::shared_ptr<SlackClient> client,
                                     std::string default_channel)
    : client_(std::move(client)), default_channel_(std::move(default_channel)) {}

Result<std::string> SlackCommunicator::Publish(const Notification& n) {
  const std::string channel = n.channel.empty() ? default_channel_ : n.channel;
  const nlohmann::json& p = n.payload;
  if (!p.is_object() || !p.contains("text") || !p["text"].is_string())
    return Status::InvalidArgument("slack notification '" + n.kind + "' has no text");
  const std::string text = p["text"].get<std::string>();
  const nlohmann::json blocks = p.value("blocks", nlohmann::json());
  if (auto ts = p.find("update_ts"); ts != p.end() && ts->is_string()) {
    RETURN_IF_ERROR(client_->UpdateMessage(channel, ts->get<std::string>(), blocks, text));
    return channel + ":" + ts->get<std::string>();
  }
  const nlohmann::json metadata = {
      {"event_type", "concierge_notification"},
      {"event_payload", {{"kind", n.kind}, {"idempotency_key", n.idempotency_key}}}};
  ASSIGN_OR_RETURN(SlackMessageRef ref, client_->PostMessage(channel, blocks, text, metadata));
  return ref.channel + ":" + ref.ts;
}

}  // namespace concierge
