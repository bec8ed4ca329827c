#include "notify/slack_interactions.h"

#include <charconv>
#include <utility>

#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/json_limits.h"
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

// The string member `key` of `object`: "" when absent or null, an error
// naming the key when it has another type.
Result<std::string> OptionalString(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) return Status::InvalidArgument(std::string(key) + " must be a string");
  return it->get<std::string>();
}

// OptionalString, "" for a member of another type (Handle refused those already).
std::string StringOr(const nlohmann::json& object, const char* key) {
  auto text = OptionalString(object, key);
  return text.ok() ? *text : std::string();
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
  if (field == form.end()) return Reply(400, "no JSON payload");
  // Slack nests messages' blocks a few levels; 64 leaves room and bounds the walk.
  auto parsed = ParseBoundedJson(field->second, {kDefaultMaxJsonBytes, 64});
  if (!parsed.ok() || !parsed->is_object()) return Reply(400, "no JSON payload");
  const nlohmann::json& payload = *parsed;
  auto type = OptionalString(payload, "type");
  if (!type.ok()) return Reply(400, type.status().message());
  if (*type != "block_actions") {
    spdlog::info("slack interactive: ignoring a {} payload", type->substr(0, 64));
    return Reply(200);
  }
  const auto user = payload.find("user");
  if (user == payload.end() || !user->is_object())
    return Reply(400, "block_actions without a user object");
  auto user_id = OptionalString(*user, "id");
  if (!user_id.ok()) return Reply(400, "user." + user_id.status().message());
  const auto actions = payload.find("actions");
  if (user_id->empty() || actions == payload.end() || !actions->is_array())
    return Reply(400, "block_actions without a user or actions");
  // Every action is checked before any is performed, so a bad one changes nothing.
  for (const auto& action : *actions) {
    if (!action.is_object()) return Reply(400, "actions must be objects");
    for (const char* key : {"action_id", "block_id", "value", "selected_user"})
      if (auto ok = OptionalString(action, key); !ok.ok())
        return Reply(400, "actions[]." + ok.status().message());
  }
  for (const auto& action : *actions) {
    if (Status st = Act(action, *user_id); !st.ok())
      spdlog::warn("slack interactive: action={} actor=slack:{}: {}",
                   StringOr(action, "action_id").substr(0, 64), *user_id, st.ToString());
  }
  return Reply(200);
}

Status SlackInteractions::Act(const nlohmann::json& action, const std::string& user_id) {
  if (trainer_ == nullptr) return Status::Unavailable("training is not running in this process");
  const std::string actor = "slack:" + user_id;
  const std::string id = StringOr(action, "action_id");
  const std::string block = StringOr(action, "block_id");
  const std::string value = StringOr(action, "value");
  if (id == kActionTagUser) {
    ASSIGN_OR_RETURN(const int64_t cluster, ClusterOfBlock(block));
    const std::string user = StringOr(action, "selected_user");
    if (user.empty()) return Status::InvalidArgument("users_select without a user");
    return trainer_->TagCluster(cluster, PersonChoice{"", "", user}, actor).status();
  }
  if (id == kActionTagName) {
    ASSIGN_OR_RETURN(const int64_t cluster, ClusterOfBlock(block));
    const std::string name = Trim(value);
    if (name.empty()) return Status::InvalidArgument("an empty name");
    return trainer_->TagCluster(cluster, PersonChoice{"", name, ""}, actor).status();
  }
  if (id == kActionIgnore) {
    ASSIGN_OR_RETURN(const int64_t cluster, ClusterOfBlock(block));
    return trainer_->IgnoreCluster(cluster, actor);
  }
  if (id == kActionNotMe) {
    if (value.empty()) return Status::InvalidArgument("not_me without a sighting");
    return trainer_->NotMeInChat(value, user_id, actor);
  }
  spdlog::info("slack interactive: ignoring action '{}'", id.substr(0, 64));
  return Status::Ok();
}

}  // namespace concierge
