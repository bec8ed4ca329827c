// The Slack interactivity endpoint (POST /slack/interactive), independent of
// the HTTP server that carries it: verify the request, parse block_actions,
// act through the Trainer. Forged, stale or replayed requests get 401 and
// change nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "notify/slack_signature.h"

namespace concierge {

class Trainer;

struct InteractionReply {
  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
};

// Action ids and block ids of the buttons our messages carry (slack_messages).
// Block ids carry the subject: "cluster:<id>" or "sighting:<id>".
inline constexpr const char* kActionTagUser = "tag_user";        // users_select
inline constexpr const char* kActionTagName = "tag_name";        // plain_text_input
inline constexpr const char* kActionIgnore = "ignore";           // button, with confirm
inline constexpr const char* kActionNotMe = "not_me";            // button

class SlackInteractions {
 public:
  using Clock = std::function<int64_t()>;  // Unix seconds

  // Needs the app's signing secret (an empty one rejects everything) and a
  // Trainer that outlives this (null: actions are checked, then refused as
  // Unavailable). `now_s` defaults to the system clock.
  SlackInteractions(std::string signing_secret, Trainer* trainer, Clock now_s = nullptr);

  // Needs the X-Slack-Request-Timestamp and X-Slack-Signature header values
  // and the raw form-encoded body. 401 for a bad signature, a timestamp more
  // than 5 minutes off or a replay; 400 for an unreadable payload; otherwise
  // acts on each action and answers 200 (empty body: Slack shows nothing).
  // An action that fails is logged and answered 200 too, since Slack only
  // shows a generic error; the message keeps its buttons for a retry.
  InteractionReply Handle(const std::string& timestamp_header,
                          const std::string& signature_header, const std::string& raw_body);

 private:
  // Performs one block_actions action pressed by Slack user `user_id`
  // (audited as "slack:<user id>").
  Status Act(const nlohmann::json& action, const std::string& user_id);

  const std::string signing_secret_;
  Trainer* const trainer_;
  Clock now_s_;
  ReplayGuard replay_;
};

}  // namespace concierge
