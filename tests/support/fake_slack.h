// A fake Slack Web API on 127.0.0.1 for notify tests: chat.postMessage,
// chat.update, files.getUploadURLExternal (+ the upload URL),
// files.completeUploadExternal, conversations.history (newest first, message
// metadata with include_all_metadata), users.info and auth.test with Slack's JSON shapes and
// errors. It can rate-limit (429 + Retry-After), be down (503) or closed
// (connection refused), records every call, and can send signed
// block_actions payloads the way Slack's interactivity does.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "notify/http_post.h"

namespace concierge::testing {

// A minimal HTTP/1.1 server on 127.0.0.1 for tests (one connection at a time,
// Connection: close). The system cpp-httplib is a compiled library that
// libconcierge does not link, so the fakes use this instead.
struct TestHttpRequest {
  std::string method;
  std::string path;
  std::multimap<std::string, std::string> headers;  // names lower-cased
  std::string body;
  // The first value of a header (name in any case), or "".
  std::string Header(const std::string& name) const;
};

struct TestHttpResponse {
  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

class TestHttpServer {
 public:
  using Handler = std::function<TestHttpResponse(const TestHttpRequest&)>;
  // Listens on `port` (0: a free one) and serves until Stop. port() is 0 when
  // binding failed.
  explicit TestHttpServer(Handler handler, int port = 0);
  ~TestHttpServer();  // Stop()
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;
  int port() const { return port_; }
  // Closes the listening socket (later connections are refused). Idempotent.
  void Stop();

 private:
  void Run();
  void Handle(int fd);
  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// Decodes an application/x-www-form-urlencoded body.
std::map<std::string, std::string> ParseForm(const std::string& body);

struct FakeSlackCall {
  std::string method;                          // "chat.postMessage", ..., "upload"
  std::multimap<std::string, std::string> headers;
  std::string body;
  int64_t at_ms = 0;                           // when the request arrived
  int http_status = 0;                         // what the fake answered
  bool ok = false;                             // the reply's "ok" (or upload accepted)
};

struct FakeSlackMessage {
  std::string channel;
  std::string ts;
  std::string text;
  nlohmann::json blocks;
  nlohmann::json metadata;
  int edits = 0;  // chat.update calls applied
};

class FakeSlack {
 public:
  // Starts serving on a free port. Knows channel C0CONCIERGE ("concierge")
  // and users U0ALICE and U0BOB; posting to a user id posts to their direct
  // conversation "D" + the id without its "U". Calls must carry "Bearer <token>".
  explicit FakeSlack(std::string token = "xoxb-fake-token");
  ~FakeSlack();
  FakeSlack(const FakeSlack&) = delete;
  FakeSlack& operator=(const FakeSlack&) = delete;

  std::string api_url() const;  // http://127.0.0.1:<port>/api
  int port() const { return port_; }
  const std::string& token() const { return token_; }

  void AddChannel(const std::string& id, const std::string& name);
  // `admin`: a workspace admin (users.info's is_admin).
  void AddUser(const std::string& id, const std::string& name, const std::string& real_name,
               const std::string& display_name, bool admin = false);

  // The next `calls` Web API calls get HTTP 429, Retry-After: retry_after_s
  // and {"ok":false,"error":"ratelimited"}.
  void RateLimitNext(int calls, int retry_after_s);
  // While down, every request gets HTTP 503.
  void SetDown(bool down);
  // Closes the listening socket (connection refused) / listens again on the same port.
  void Close();
  void Reopen();

  std::vector<FakeSlackCall> Calls() const;
  std::vector<FakeSlackCall> Calls(const std::string& method) const;
  std::vector<FakeSlackMessage> Messages() const;
  // Bytes of each completed upload by file id.
  std::map<std::string, std::string> Files() const;

  // A block_actions payload as Slack sends it when `user` acts on a message.
  nlohmann::json BlockActionsPayload(const std::string& user, const std::string& channel,
                                     const std::string& message_ts,
                                     const nlohmann::json& action) const;
  static nlohmann::json UsersSelectAction(const std::string& block_id,
                                          const std::string& action_id,
                                          const std::string& selected_user);
  static nlohmann::json ButtonAction(const std::string& block_id, const std::string& action_id,
                                     const std::string& value, const std::string& text);
  // POSTs `payload` form-encoded (payload=<json>) to url, signed with
  // signing_secret at timestamp_s (0: now), as Slack's interactivity does.
  static Result<HttpReply> PostInteractive(const std::string& url,
                                           const std::string& signing_secret,
                                           const nlohmann::json& payload, int64_t timestamp_s = 0);

 private:
  struct State;
  void Serve();
  TestHttpResponse Answer(const TestHttpRequest& req);

  const std::string token_;
  int port_ = 0;
  std::shared_ptr<State> state_;
  std::unique_ptr<TestHttpServer> server_;
};

}  // namespace concierge::testing
