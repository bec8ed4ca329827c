#include "notify/slack_interactions.h"

#include <charconv>
#include <utility>

#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "notify/http_post.h"
#include "pipeline/train.h"

namespace concierge {

namespace {

constexpr int64_t kMaxAgeS = 300;

InteractionReply Reply(int status, std::string body = "") {
  return {status, "text/plain", std::move(body)};
}

// The cluster id in a block id "cluster:<id>" or "cluster:<id>:<suffix>".
Result<int64_t> ClusterOfBlock(const std::string& block_id) {
  const std::string prefix = "cluster:";
  if (block_id.rfind(prefix, 0) != 0)
    return Status::InvalidArgument("block '" + block_id + "' names no stranger");
  const char* begin = block_id.data() + prefix.size();
  const char* end = block_id.data() + block_id.size();
  int64_t id = 0;
  const auto [ptr, ec] = std::from_chars(begin, end, id);
  if (ec != std::errc() || ptr == begin || (ptr != end && *ptr != ':') || id <= 0)
    return Status::InvalidArgument("block '" + block_id + "' names no stranger");
  return id;
}

std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

}  // namespace

SlackInteractions::SlackInteractions(std::string signing_secret, Trainer* trainer, Clock now_s)
    : signing_secret_(std::move(signing_secret)),
      trainer_(trainer),
      now_s_(now_s ? std::move(now_s) : Clock([] { return NowMs() / 1000; })),
      replay_(kMaxAgeS) {}

InteractionReply SlackInteractions::Handle(const std::string& timestamp_header,
                                           const std::string& signature_header,
                                           const std::string& raw_body) {
  const int64_t now = now_s_();
  if (Status ok = VerifySlackRequest(signing_secret_, timestamp_header, signature_header,
                                     raw_body, now, kMaxAgeS);
      !ok.ok()) {
    spdlog::warn("slack interactive: rejected: {}", ok.message());
    return Reply(401, "invalid request signature");
  }
  // Verified, so the timestamp is a plain decimal within the window.
  const int64_t timestamp = std::stoll(timestamp_header);
  if (Status fresh = replay_.CheckAndRemember(signature_header, timestamp, now); !fresh.ok()) {
    spdlog::warn("slack interactive: rejected: {}", fresh.message());
    return Reply(401, "replayed request");
  }
  const auto form = FormDecode(raw_body);
  const auto field = form.find("payload");
  const nlohmann::json payload =
      field == form.end() ? nlohmann::json()
                          : nlohmann::json::parse(field->second, nullptr, false);
  if (!payload.is_object()) return Reply(400, "no JSON payload");
  const std::string type = payload.value("type", "");
  if (type != "block_actions") {
    spdlog::info("slack interactive: ignoring a {} payload", type);
    return Reply(200);
  }
  const auto user = payload.find("user");
  const std::string user_id =
      user != payload.end() && user->is_object() ? user->value("id", "") : "";
  const auto actions = payload.find("actions");
  if (user_id.empty() || actions == payload.end() || !actions->is_array())
    return Reply(400, "block_actions without a user or actions");
  const std::string actor = "slack:" + user_id;
  for (const auto& action : *actions) {
    if (!action.is_object()) continue;
    if (Status st = Act(action, actor); !st.ok())
      spdlog::warn("slack interactive: action={} actor={}: {}", action.value("action_id", ""),
                   actor, st.ToString());
  }
  return Reply(200);
}

Status SlackInteractions::Act(const nlohmann::json& action, const std::string& actor) {
  const std::string id = action.value("action_id", "");
  const std::string block = action.value("block_id", "");
  if (id == kActionTagUser) {
    ASSIGN_OR_RETURN(const int64_t cluster, ClusterOfBlock(block));
    const std::string user = action.value("selected_user", "");
    if (user.empty()) return Status::InvalidArgument("users_select without a user");
    return trainer_->TagCluster(cluster, PersonChoice{"", "", user}, actor).status();
  }
  if (id == kActionTagName) {
    ASSIGN_OR_RETURN(const int64_t cluster, ClusterOfBlock(block));
    const std::string name = Trim(action.value("value", ""));
    if (name.empty()) return Status::InvalidArgument("an empty name");
    return trainer_->TagCluster(cluster, PersonChoice{"", name, ""}, actor).status();
  }
  if (id == kActionIgnore) {
    ASSIGN_OR_RETURN(const int64_t cluster, ClusterOfBlock(block));
    return trainer_->IgnoreCluster(cluster, actor);
  }
  if (id == kActionNotMe) {
    const std::string sighting = action.value("value", "");
    if (sighting.empty()) return Status::InvalidArgument("not_me without a sighting");
    return trainer_->NotMe(sighting, actor);
  }
  spdlog::info("slack interactive: ignoring action '{}'", id);
  return Status::Ok();
}

}  // namespace concierge
