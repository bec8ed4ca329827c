// A Slack Web API client over libcurl: post and update messages, upload an
// image, look up a user. Retries inside each call: HTTP 429 / "ratelimited"
// waits the Retry-After Slack asks for; 5xx and network errors back off
// exponentially with a cap. The bot token is sent only as a Bearer header and
// never logged.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/status.h"
#include "notify/http_post.h"
#include "pipeline/chat_directory.h"

namespace concierge {

struct SlackClientOptions {
  std::string api_url = "https://slack.com/api";  // no trailing slash needed
  std::string bot_token;
  int timeout_ms = 10000;
  int call_attempts = 4;        // tries per call, the first included
  int backoff_initial_ms = 500;
  int backoff_max_ms = 60000;
  int max_retry_after_s = 120;  // a longer Retry-After is capped (and logged)
};

// Options from the notify section of the config.
SlackClientOptions SlackClientOptionsFromConfig(const NotifyConfig& config);

struct SlackMessageRef {
  std::string channel;  // the channel id Slack reports (chat.update needs it)
  std::string ts;       // the message's timestamp id
};

struct SlackUser {
  std::string id;
  std::string name;          // the handle
  std::string real_name;
  std::string display_name;  // may be empty
  bool admin = false;        // is_admin or is_owner of the workspace
};

// Maps a Slack "error" string to a Status: ratelimited and Slack-side
// trouble -> kUnavailable (transient); auth -> kPermissionDenied; missing
// channel/user/message -> kNotFound; anything else -> kInvalidArgument.
Status SlackErrorStatus(const std::string& method, const std::string& error);

class SlackClient : public ChatDirectory {
 public:
  // Needs a bot token for real use (calls fail with kPermissionDenied without one).
  explicit SlackClient(SlackClientOptions options);

  // chat.postMessage. Needs a channel and a fallback text; blocks may be null
  // or a Block Kit array; metadata, when an object, is sent as Slack message
  // metadata (used to find our own messages again). Returns where it landed.
  Result<SlackMessageRef> PostMessage(const std::string& channel, const nlohmann::json& blocks,
                                      const std::string& text,
                                      const nlohmann::json& metadata = nullptr);
  // chat.update of a message this bot posted. Same content rules as PostMessage.
  Status UpdateMessage(const std::string& channel, const std::string& ts,
                       const nlohmann::json& blocks, const std::string& text);
  // files.getUploadURLExternal, POST of the bytes to the returned upload_url,
  // then files.completeUploadExternal (shared into `channel` unless empty,
  // which keeps the file private, e.g. for an image block). Returns the file id.
  Result<std::string> UploadImage(const std::string& channel, const std::string& filename,
                                  const std::string& bytes, const std::string& title = "");
  // conversations.history (with include_all_metadata) of the newest `limit`
  // messages in `channel`: the message whose metadata carries this
  // idempotency key (as SlackCommunicator posts it), or nullopt.
  Result<std::optional<nlohmann::json>> FindMessage(const std::string& channel,
                                                    const std::string& idempotency_key,
                                                    int limit = 100);
  // users.info. Needs a user id ("U...").
  Result<SlackUser> UsersInfo(const std::string& user);
  // ChatDirectory through users.info: the profile's real name (else the
  // display name, else the handle) and whether the user is an admin or owner.
  Result<ChatUser> LookUp(const std::string& user_id) override;
  // auth.test: "<bot user> in <team>" when the token is good; kPermissionDenied
  // for a bad or revoked one.
  Result<std::string> AuthTest();

  // Makes waits in current and later calls end at once with kUnavailable. Idempotent.
  void Cancel() { sleep_.Cancel(); }

 private:
  // Calls one Web API method with retries; returns the parsed ok:true reply.
  Result<nlohmann::json> Call(const std::string& method, const std::string& body, bool json_body);
  // POSTs file bytes to a pre-signed upload URL with the same retry rules.
  Status PostUpload(const std::string& upload_url, const std::string& bytes);
  // Sleeps before retry number `retry` (0-based); false when cancelled.
  bool WaitBeforeRetry(int retry, int retry_after_s, const std::string& what);

  SlackClientOptions options_;
  CancellableSleep sleep_;
};

}  // namespace concierge
