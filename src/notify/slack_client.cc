#include "notify/slack_client.h"

#include <algorithm>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "core/json_limits.h"
#include "notify/communicator.h"

namespace concierge {

namespace {

bool IsOneOf(const std::string& s, std::initializer_list<const char*> words) {
  return std::any_of(words.begin(), words.end(), [&](const char* w) { return s == w; });
}

std::string StringField(const nlohmann::json& doc, const char* key) {
  auto it = doc.find(key);
  return (it != doc.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

}  // namespace

SlackClientOptions SlackClientOptionsFromConfig(const NotifyConfig& config) {
  SlackClientOptions o;
  o.api_url = config.slack_api_url;
  o.bot_token = config.slack_bot_token;
  o.timeout_ms = config.request_timeout_ms;
  o.call_attempts = config.call_attempts;
  o.backoff_initial_ms = config.backoff_initial_ms;
  o.backoff_max_ms = config.backoff_max_ms;
  o.max_retry_after_s = config.max_retry_after_s;
  return o;
}

Status SlackErrorStatus(const std::string& method, const std::string& error) {
  const std::string what = "slack " + method + ": " + error;
  if (IsOneOf(error, {"ratelimited", "rate_limited", "internal_error", "fatal_error",
                      "service_unavailable", "request_timeout", "team_added_to_org"}))
    return Status::Unavailable(what);
  if (IsOneOf(error, {"invalid_auth", "not_authed", "account_inactive", "token_revoked",
                      "token_expired", "no_permission", "missing_scope", "not_allowed_token_type",
                      "ekm_access_denied"}))
    return Status::PermissionDenied(what);
  if (IsOneOf(error, {"channel_not_found", "user_not_found", "message_not_found",
                      "not_in_channel", "is_archived", "file_not_found", "users_not_found"}))
    return Status::NotFound(what);
  return Status::InvalidArgument(what);
}

SlackClient::SlackClient(SlackClientOptions options) : options_(std::move(options)) {
  while (!options_.api_url.empty() && options_.api_url.back() == '/') options_.api_url.pop_back();
}

bool SlackClient::WaitBeforeRetry(int retry, int retry_after_s, const std::string& what) {
  int64_t ms = BackoffMs(retry, options_.backoff_initial_ms, options_.backoff_max_ms);
  if (retry_after_s >= 0) {
    if (retry_after_s > options_.max_retry_after_s)
      spdlog::warn("slack asked to wait {} s; capping at {} s", retry_after_s,
                   options_.max_retry_after_s);
    ms = int64_t{std::min(retry_after_s, options_.max_retry_after_s)} * 1000;
  }
  spdlog::info("{}; retrying in {} ms", what, ms);
  return sleep_.SleepFor(ms);
}

Result<nlohmann::json> SlackClient::Call(const std::string& method, const std::string& body,
                                         bool json_body) {
  if (options_.bot_token.empty())
    return Status::PermissionDenied("slack " + method + ": bot token is not set");
  const std::vector<std::string> headers = {
      "Authorization: Bearer " + options_.bot_token,
      json_body ? "Content-Type: application/json; charset=utf-8"
                : "Content-Type: application/x-www-form-urlencoded"};
  const std::string url = options_.api_url + "/" + method;
  Status last = Status::Unavailable("slack " + method + ": no attempt made");
  int retry_after_s = -1;
  for (int attempt = 0; attempt < std::max(1, options_.call_attempts); ++attempt) {
    if (attempt > 0 && !WaitBeforeRetry(attempt - 1, retry_after_s, last.message()))
      return Status::Unavailable("slack " + method + ": cancelled while retrying");
    retry_after_s = -1;
    Result<HttpReply> reply = HttpPost(url, headers, body, options_.timeout_ms);
    if (!reply.ok()) {
      last = Status::Unavailable("slack " + method + ": " + reply.status().message());
      continue;
    }
    if (reply->status == 429) {
      // Slack always sends Retry-After with 429; 1 s if a proxy dropped it.
      retry_after_s = reply->retry_after_s >= 0 ? reply->retry_after_s : 1;
      last = Status::Unavailable("slack " + method + ": rate limited (HTTP 429)");
      continue;
    }
    if (reply->status >= 500) {
      last = Status::Unavailable("slack " + method + ": HTTP " + std::to_string(reply->status));
      continue;
    }
    // users.list pages of a large workspace run to megabytes.
    auto parsed = ParseBoundedJson(reply->body, {16 * 1024 * 1024, 64});
    if (!parsed.ok() || !parsed->is_object())
      return Status::InvalidArgument("slack " + method + ": HTTP " +
                                     std::to_string(reply->status) + " with a non-JSON body");
    nlohmann::json doc = std::move(*parsed);
    if (const auto ok = doc.find("ok"); ok != doc.end() && *ok == true) return doc;
    const std::string error = StringField(doc, "error");
    Status status = SlackErrorStatus(method, error.empty() ? "unknown_error" : error);
    if (!IsTransient(status)) return status;
    retry_after_s = reply->retry_after_s;
    last = std::move(status);
  }
  return last;
}

Status SlackClient::PostUpload(const std::string& upload_url, const std::string& bytes) {
  // The URL is pre-signed; the bot token is not sent to it.
  const std::vector<std::string> headers = {"Content-Type: application/octet-stream"};
  Status last = Status::Unavailable("slack upload: no attempt made");
  int retry_after_s = -1;
  for (int attempt = 0; attempt < std::max(1, options_.call_attempts); ++attempt) {
    if (attempt > 0 && !WaitBeforeRetry(attempt - 1, retry_after_s, last.message()))
      return Status::Unavailable("slack upload: cancelled while retrying");
    retry_after_s = -1;
    Result<HttpReply> reply = HttpPost(upload_url, headers, bytes, options_.timeout_ms);
    if (!reply.ok()) {
      last = Status::Unavailable("slack upload: " + reply.status().message());
      continue;
    }
    if (reply->status == 200) return Status::Ok();
    const std::string code = "slack upload: HTTP " + std::to_string(reply->status);
    if (reply->status == 429 || reply->status >= 500) {
      retry_after_s = reply->status == 429 ? std::max(reply->retry_after_s, 1) : -1;
      last = Status::Unavailable(code);
      continue;
    }
    return Status::InvalidArgument(code);
  }
  return last;
}

Result<SlackMessageRef> SlackClient::PostMessage(const std::string& channel,
                                                 const nlohmann::json& blocks,
                                                 const std::string& text,
                                                 const nlohmann::json& metadata) {
  if (channel.empty()) return Status::InvalidArgument("slack chat.postMessage: no channel");
  nlohmann::json body = {{"channel", channel}, {"text", text}, {"unfurl_links", false}};
  if (blocks.is_array()) body["blocks"] = blocks;
  if (metadata.is_object()) body["metadata"] = metadata;
  ASSIGN_OR_RETURN(nlohmann::json reply, Call("chat.postMessage", body.dump(), true));
  SlackMessageRef ref{StringField(reply, "channel"), StringField(reply, "ts")};
  if (ref.ts.empty()) return Status::Internal("slack chat.postMessage: reply without ts");
  if (ref.channel.empty()) ref.channel = channel;
  return ref;
}

Status SlackClient::UpdateMessage(const std::string& channel, const std::string& ts,
                                  const nlohmann::json& blocks, const std::string& text) {
  if (channel.empty() || ts.empty())
    return Status::InvalidArgument("slack chat.update: needs a channel and a ts");
  nlohmann::json body = {{"channel", channel}, {"ts", ts}, {"text", text}};
  if (blocks.is_array()) body["blocks"] = blocks;
  return Call("chat.update", body.dump(), true).status();
}

Result<std::string> SlackClient::UploadImage(const std::string& channel,
                                             const std::string& filename,
                                             const std::string& bytes, const std::string& title) {
  if (filename.empty() || bytes.empty())
    return Status::InvalidArgument("slack upload: needs a filename and some bytes");
  ASSIGN_OR_RETURN(nlohmann::json ticket,
                   Call("files.getUploadURLExternal",
                        FormEncode({{"filename", filename},
                                    {"length", std::to_string(bytes.size())}}),
                        false));
  const std::string upload_url = StringField(ticket, "upload_url");
  const std::string file_id = StringField(ticket, "file_id");
  if (upload_url.empty() || file_id.empty())
    return Status::Internal("slack files.getUploadURLExternal: reply without upload_url/file_id");
  RETURN_IF_ERROR(PostUpload(upload_url, bytes));
  const nlohmann::json file = {{"id", file_id}, {"title", title.empty() ? filename : title}};
  nlohmann::json body = {{"files", nlohmann::json::array({file})}};
  if (!channel.empty()) body["channel_id"] = channel;
  ASSIGN_OR_RETURN(nlohmann::json done, Call("files.completeUploadExternal", body.dump(), true));
  const auto files = done.find("files");
  if (files == done.end() || !files->is_array() || files->empty())
    return Status::Internal("slack files.completeUploadExternal: reply without files");
  return StringField(files->front(), "id");
}

Result<std::optional<nlohmann::json>> SlackClient::FindMessage(const std::string& channel,
                                                               const std::string& key,
                                                               int limit) {
  if (channel.empty() || key.empty())
    return Status::InvalidArgument("slack conversations.history: needs a channel and a key");
  ASSIGN_OR_RETURN(nlohmann::json reply,
                   Call("conversations.history",
                        FormEncode({{"channel", channel},
                                    {"limit", std::to_string(limit)},
                                    {"include_all_metadata", "true"}}),
                        false));
  const auto messages = reply.find("messages");
  if (messages == reply.end() || !messages->is_array()) return std::optional<nlohmann::json>();
  for (const auto& m : *messages) {
    const auto meta = m.find("metadata");
    if (meta == m.end() || !meta->is_object()) continue;
    const auto payload = meta->find("event_payload");
    if (payload != meta->end() && payload->is_object() &&
        StringField(*payload, "idempotency_key") == key)
      return std::optional<nlohmann::json>(m);
  }
  return std::optional<nlohmann::json>();
}

Result<std::string> SlackClient::AuthTest() {
  ASSIGN_OR_RETURN(nlohmann::json reply, Call("auth.test", "", false));
  return StringField(reply, "user") + " in " + StringField(reply, "team");
}

Result<SlackUser> SlackClient::UsersInfo(const std::string& user) {
  if (user.empty()) return Status::InvalidArgument("slack users.info: no user id");
  ASSIGN_OR_RETURN(nlohmann::json reply, Call("users.info", FormEncode({{"user", user}}), false));
  const auto u = reply.find("user");
  if (u == reply.end() || !u->is_object())
    return Status::Internal("slack users.info: reply without user");
  SlackUser out;
  out.id = StringField(*u, "id");
  out.name = StringField(*u, "name");
  out.real_name = StringField(*u, "real_name");
  if (auto p = u->find("profile"); p != u->end() && p->is_object()) {
    out.display_name = StringField(*p, "display_name");
    // The profile's real name is the one the user edits; the top-level copy can lag.
    if (const std::string profile_name = StringField(*p, "real_name"); !profile_name.empty())
      out.real_name = profile_name;
  }
  for (const char* flag : {"is_admin", "is_owner"})
    if (auto f = u->find(flag); f != u->end() && f->is_boolean() && f->get<bool>()) out.admin = true;
  return out;
}

Result<ChatUser> SlackClient::LookUp(const std::string& user_id) {
  ASSIGN_OR_RETURN(const SlackUser user, UsersInfo(user_id));
  ChatUser out;
  out.id = user.id.empty() ? user_id : user.id;
  out.real_name = !user.real_name.empty()      ? user.real_name
                  : !user.display_name.empty() ? user.display_name
                                               : user.name;
  if (out.real_name.empty()) out.real_name = out.id;
  out.admin = user.admin;
  return out;
}

}  // namespace concierge
