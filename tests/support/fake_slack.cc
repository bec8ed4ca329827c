#include "support/fake_slack.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include "core/clock.h"
#include "notify/slack_signature.h"

namespace concierge::testing {

struct FakeSlack::State {
  struct Upload {
    std::string filename;
    int64_t length = 0;
    std::string bytes;
    bool uploaded = false;
  };
  mutable std::mutex mu;
  std::vector<FakeSlackCall> calls;
  std::vector<FakeSlackMessage> messages;
  std::map<std::string, std::string> channels;  // id -> name
  std::map<std::string, nlohmann::json> users;  // id -> user object
  std::map<std::string, Upload> uploads;        // file id -> upload
  std::map<std::string, std::string> files;     // completed: file id -> bytes
  int rate_limited_calls = 0;
  int retry_after_s = 1;
  bool down = false;
  int64_t next_ts = 1700000000;
  int next_file = 1;
};

std::string TestHttpRequest::Header(const std::string& name) const {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto it = headers.find(lower);
  return it == headers.end() ? "" : it->second;
}

std::map<std::string, std::string> ParseForm(const std::string& body) {
  auto decode = [](const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '+') {
        out += ' ';
      } else if (s[i] == '%' && i + 2 < s.size()) {
        out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        out += s[i];
      }
    }
    return out;
  };
  std::map<std::string, std::string> fields;
  size_t pos = 0;
  while (pos <= body.size() && !body.empty()) {
    size_t amp = body.find('&', pos);
    if (amp == std::string::npos) amp = body.size();
    const std::string pair = body.substr(pos, amp - pos);
    const size_t eq = pair.find('=');
    if (!pair.empty())
      fields[decode(pair.substr(0, eq))] =
          eq == std::string::npos ? "" : decode(pair.substr(eq + 1));
    pos = amp + 1;
  }
  return fields;
}

TestHttpServer::TestHttpServer(Handler handler, int port) : handler_(std::move(handler)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd_ < 0) return;
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
    return;
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Run(); });
}

TestHttpServer::~TestHttpServer() { Stop(); }

void TestHttpServer::Stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
}

void TestHttpServer::Run() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    Handle(fd);
    ::close(fd);
  }
}

void TestHttpServer::Handle(int fd) {
  std::string data;
  char buf[65536];
  size_t header_end = std::string::npos;
  size_t content_length = 0;
  while (true) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) return;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return;
    data.append(buf, static_cast<size_t>(n));
    if (header_end == std::string::npos) {
      header_end = data.find("\r\n\r\n");
      if (header_end == std::string::npos) continue;
      const std::string head = data.substr(0, header_end);
      std::string lower = head;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      const size_t cl = lower.find("\r\ncontent-length:");
      if (cl != std::string::npos) content_length = std::stoul(head.substr(cl + 17));
    }
    if (data.size() >= header_end + 4 + content_length) break;
  }
  TestHttpRequest req;
  const std::string head = data.substr(0, header_end);
  size_t line_end = head.find("\r\n");
  const std::string request_line = head.substr(0, line_end);
  const size_t sp1 = request_line.find(' ');
  const size_t sp2 = request_line.find(' ', sp1 + 1);
  req.method = request_line.substr(0, sp1);
  req.path = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  while (line_end != std::string::npos && line_end < head.size()) {
    const size_t next = head.find("\r\n", line_end + 2);
    const std::string line = head.substr(line_end + 2, next == std::string::npos
                                                           ? std::string::npos
                                                           : next - line_end - 2);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      const size_t v = line.find_first_not_of(' ', colon + 1);
      req.headers.emplace(name, v == std::string::npos ? "" : line.substr(v));
    }
    line_end = next;
  }
  req.body = data.substr(header_end + 4, content_length);
  const TestHttpResponse res = handler_(req);
  std::string out = "HTTP/1.1 " + std::to_string(res.status) + " Status\r\nContent-Type: " +
                    res.content_type + "\r\nContent-Length: " + std::to_string(res.body.size()) +
                    "\r\nConnection: close\r\n";
  for (const auto& [k, v] : res.headers) out += k + ": " + v + "\r\n";
  out += "\r\n" + res.body;
  size_t sent = 0;
  while (sent < out.size()) {
    const ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

namespace {

nlohmann::json Error(const std::string& error) { return {{"ok", false}, {"error", error}}; }

// Slack accepts JSON or form bodies; form values that hold JSON (files) are parsed.
nlohmann::json Arguments(const TestHttpRequest& req) {
  if (req.Header("Content-Type").find("application/json") != std::string::npos) {
    nlohmann::json doc = nlohmann::json::parse(req.body, nullptr, false);
    return doc.is_object() ? doc : nlohmann::json::object();
  }
  nlohmann::json args = nlohmann::json::object();
  for (const auto& [k, v] : ParseForm(req.body)) {
    if (k == "files" || k == "blocks") args[k] = nlohmann::json::parse(v, nullptr, false);
    else args[k] = v;
  }
  return args;
}

std::string Str(const nlohmann::json& args, const char* key) {
  auto it = args.find(key);
  if (it == args.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
  return "";
}

}  // namespace

FakeSlack::FakeSlack(std::string token)
    : token_(std::move(token)), state_(std::make_shared<State>()) {
  AddChannel("C0CONCIERGE", "concierge");
  AddUser("U0ALICE", "alice", "Alice Liddell", "Alice");
  AddUser("U0BOB", "bob", "Bob Builder", "");
  AddUser("U0ADA", "ada", "Ada Admin", "ada", /*admin=*/true);
  Serve();
}

FakeSlack::~FakeSlack() { Close(); }

std::string FakeSlack::api_url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/api";
}

void FakeSlack::AddChannel(const std::string& id, const std::string& name) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->channels[id] = name;
}

void FakeSlack::AddUser(const std::string& id, const std::string& name,
                        const std::string& real_name, const std::string& display_name,
                        bool admin) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->users[id] = {{"id", id},
                       {"team_id", "T0FAKE"},
                       {"name", name},
                       {"deleted", false},
                       {"real_name", real_name},
                       {"is_bot", false},
                       {"is_admin", admin},
                       {"is_owner", false},
                       {"profile",
                        {{"real_name", real_name},
                         {"display_name", display_name},
                         {"real_name_normalized", real_name},
                         {"display_name_normalized", display_name}}}};
}

void FakeSlack::RateLimitNext(int calls, int retry_after_s) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->rate_limited_calls = calls;
  state_->retry_after_s = retry_after_s;
}

void FakeSlack::SetDown(bool down) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->down = down;
}

std::vector<FakeSlackCall> FakeSlack::Calls() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->calls;
}

std::vector<FakeSlackCall> FakeSlack::Calls(const std::string& method) const {
  std::vector<FakeSlackCall> out;
  for (auto& c : Calls())
    if (c.method == method) out.push_back(std::move(c));
  return out;
}

std::vector<FakeSlackMessage> FakeSlack::Messages() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->messages;
}

std::map<std::string, std::string> FakeSlack::Files() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->files;
}

void FakeSlack::Close() { server_.reset(); }

void FakeSlack::Reopen() {
  Close();
  Serve();
}

void FakeSlack::Serve() {
  server_ = std::make_unique<TestHttpServer>(
      [this](const TestHttpRequest& req) { return Answer(req); }, port_);
  if (server_->port() == 0) throw std::runtime_error("fake slack: cannot listen");
  port_ = server_->port();
}

TestHttpResponse FakeSlack::Answer(const TestHttpRequest& req) {
  State* st = state_.get();
  std::lock_guard<std::mutex> lock(st->mu);
  TestHttpResponse res;
  auto record = [&](const std::string& method, int status, bool ok) {
    FakeSlackCall call;
    call.method = method;
    call.headers = req.headers;
    call.body = req.body;
    call.at_ms = NowMs();
    call.http_status = status;
    call.ok = ok;
    st->calls.push_back(std::move(call));
  };
  const std::string upload_prefix = "/upload/v1/";
  if (req.method == "POST" && req.path.rfind(upload_prefix, 0) == 0) {
    if (st->down) {
      res.status = 503;
      record("upload", 503, false);
      return res;
    }
    auto it = st->uploads.find(req.path.substr(upload_prefix.size()));
    if (it == st->uploads.end()) {
      res.status = 404;
      record("upload", 404, false);
      return res;
    }
    it->second.bytes = req.body;
    it->second.uploaded = true;
    res.body = "OK - " + std::to_string(req.body.size());
    record("upload", 200, true);
    return res;
  }
  if (req.method != "POST" || req.path.rfind("/api/", 0) != 0) {
    res.status = 404;
    record(req.path, 404, false);
    return res;
  }
  const std::string method = req.path.substr(5);
  const std::string& token = token_;
  nlohmann::json reply;
  int status = 200;
  if (st->down) {
    status = 503;
    res.status = status;
    res.body = "upstream connect error";
    record(method, status, false);
    return res;
  }
  if (st->rate_limited_calls > 0) {
    --st->rate_limited_calls;
    status = 429;
    res.headers.emplace_back("Retry-After", std::to_string(st->retry_after_s));
    reply = Error("ratelimited");
  } else if (req.Header("Authorization").empty()) {
    reply = Error("not_authed");
  } else if (req.Header("Authorization") != "Bearer " + token) {
    reply = Error("invalid_auth");
  } else {
    const nlohmann::json args = Arguments(req);
    auto resolve = [&](const std::string& ch) -> std::string {
      const std::string name = (!ch.empty() && ch[0] == '#') ? ch.substr(1) : ch;
      for (const auto& [id, n] : st->channels)
        if (id == ch || n == name) return id;
      // A user id posts to the app's direct conversation with them, "D...".
      if (st->users.count(ch)) {
        const std::string dm = "D" + ch.substr(1);
        st->channels[dm] = "dm-" + ch;
        return dm;
      }
      return "";
    };
    if (method == "auth.test") {
      reply = {{"ok", true},         {"url", "https://fake.slack.com/"}, {"team", "Fake Office"},
               {"user", "concierge"}, {"team_id", "T0FAKE"},              {"user_id", "U0CONCIERGE"},
               {"bot_id", "B0FAKE"}};
    } else if (method == "chat.postMessage") {
      const std::string channel = resolve(Str(args, "channel"));
      if (channel.empty()) {
        reply = Error("channel_not_found");
      } else if (Str(args, "text").empty() && !args.contains("blocks")) {
        reply = Error("no_text");
      } else {
        char ts[32];
        std::snprintf(ts, sizeof ts, "%lld.%06d", static_cast<long long>(st->next_ts++),
                      static_cast<int>(st->messages.size() % 1000000));
        FakeSlackMessage m{channel, ts, Str(args, "text"), args.value("blocks", nlohmann::json()),
                           args.value("metadata", nlohmann::json()), 0};
        st->messages.push_back(m);
        reply = {{"ok", true},
                 {"channel", channel},
                 {"ts", m.ts},
                 {"message",
                  {{"type", "message"},
                   {"subtype", "bot_message"},
                   {"text", m.text},
                   {"ts", m.ts},
                   {"bot_id", "B0FAKE"},
                   {"blocks", m.blocks.is_null() ? nlohmann::json::array() : m.blocks}}}};
      }
    } else if (method == "chat.update") {
      const std::string channel = resolve(Str(args, "channel"));
      FakeSlackMessage* found = nullptr;
      for (auto& m : st->messages)
        if (m.channel == channel && m.ts == Str(args, "ts")) found = &m;
      if (channel.empty()) {
        reply = Error("channel_not_found");
      } else if (found == nullptr) {
        reply = Error("message_not_found");
      } else {
        found->text = Str(args, "text");
        if (args.contains("blocks")) found->blocks = args["blocks"];
        ++found->edits;
        reply = {{"ok", true},
                 {"channel", channel},
                 {"ts", found->ts},
                 {"text", found->text},
                 {"message", {{"text", found->text}, {"blocks", found->blocks}}}};
      }
    } else if (method == "files.getUploadURLExternal") {
      const std::string filename = Str(args, "filename");
      const std::string length = Str(args, "length");
      if (filename.empty() || length.empty() || length == "0") {
        reply = Error("missing_argument");
      } else {
        char id[16];
        std::snprintf(id, sizeof id, "F%07d", st->next_file++);
        st->uploads[id] = {filename, std::stoll(length), "", false};
        reply = {{"ok", true},
                 {"upload_url", "http://127.0.0.1:" + std::to_string(port_) + "/upload/v1/" + id},
                 {"file_id", id}};
      }
    } else if (method == "files.completeUploadExternal") {
      const nlohmann::json files = args.value("files", nlohmann::json());
      const std::string channel_arg = Str(args, "channel_id");
      nlohmann::json out = nlohmann::json::array();
      if (!files.is_array() || files.empty()) reply = Error("invalid_arguments");
      else if (!channel_arg.empty() && resolve(channel_arg).empty())
        reply = Error("channel_not_found");
      for (const auto& f : files) {
        if (!reply.is_null()) break;
        const std::string id = Str(f, "id");
        auto it = st->uploads.find(id);
        if (it == st->uploads.end() || !it->second.uploaded) {
          reply = Error("file_not_found");
          break;
        }
        st->files[id] = it->second.bytes;
        out.push_back({{"id", id},
                       {"name", it->second.filename},
                       {"title", f.value("title", it->second.filename)},
                       {"mimetype", "image/jpeg"},
                       {"size", it->second.bytes.size()}});
      }
      if (reply.is_null()) reply = {{"ok", true}, {"files", out}};
    } else if (method == "conversations.history") {
      const std::string channel = resolve(Str(args, "channel"));
      const std::string limit_arg = Str(args, "limit");
      const size_t limit = limit_arg.empty() ? 100 : std::stoul(limit_arg);
      const bool with_metadata = Str(args, "include_all_metadata") == "true";
      nlohmann::json out = nlohmann::json::array();
      for (auto m = st->messages.rbegin(); m != st->messages.rend() && out.size() < limit; ++m) {
        if (m->channel != channel) continue;
        nlohmann::json message = {{"type", "message"},
                                  {"subtype", "bot_message"},
                                  {"bot_id", "B0FAKE"},
                                  {"text", m->text},
                                  {"ts", m->ts},
                                  {"blocks", m->blocks.is_null() ? nlohmann::json::array()
                                                                 : m->blocks}};
        if (with_metadata && m->metadata.is_object()) message["metadata"] = m->metadata;
        out.push_back(std::move(message));
      }
      reply = channel.empty() ? Error("channel_not_found")
                              : nlohmann::json{{"ok", true},
                                               {"messages", out},
                                               {"has_more", false}};
    } else if (method == "users.info") {
      auto it = st->users.find(Str(args, "user"));
      reply = it == st->users.end() ? Error("user_not_found")
                                    : nlohmann::json{{"ok", true}, {"user", it->second}};
    } else {
      reply = Error("unknown_method");
    }
  }
  res.status = status;
  res.content_type = "application/json; charset=utf-8";
  res.body = reply.dump();
  record(method, status, reply.value("ok", false));
  return res;
}

nlohmann::json FakeSlack::BlockActionsPayload(const std::string& user, const std::string& channel,
                                              const std::string& message_ts,
                                              const nlohmann::json& action) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  nlohmann::json message = {{"type", "message"}, {"ts", message_ts}, {"bot_id", "B0FAKE"}};
  for (const auto& m : state_->messages)
    if (m.channel == channel && m.ts == message_ts) {
      message["text"] = m.text;
      message["blocks"] = m.blocks;
    }
  auto u = state_->users.find(user);
  const std::string name = u == state_->users.end() ? user : u->second.value("name", user);
  auto c = state_->channels.find(channel);
  return {{"type", "block_actions"},
          {"user", {{"id", user}, {"username", name}, {"name", name}, {"team_id", "T0FAKE"}}},
          {"api_app_id", "A0FAKE"},
          {"token", "deprecated-verification-token"},
          {"container",
           {{"type", "message"},
            {"message_ts", message_ts},
            {"channel_id", channel},
            {"is_ephemeral", false}}},
          {"trigger_id", "1700000000.123456.abcdef"},
          {"team", {{"id", "T0FAKE"}, {"domain", "concierge-test"}}},
          {"enterprise", nullptr},
          {"is_enterprise_install", false},
          {"channel", {{"id", channel}, {"name", c == state_->channels.end() ? "" : c->second}}},
          {"message", message},
          {"state", {{"values", nlohmann::json::object()}}},
          {"response_url", "http://127.0.0.1:" + std::to_string(port_) + "/actions/T0FAKE/1/x"},
          {"actions", nlohmann::json::array({action})}};
}

nlohmann::json FakeSlack::UsersSelectAction(const std::string& block_id,
                                            const std::string& action_id,
                                            const std::string& selected_user) {
  return {{"type", "users_select"},
          {"block_id", block_id},
          {"action_id", action_id},
          {"selected_user", selected_user},
          {"action_ts", "1700000001.000200"}};
}

nlohmann::json FakeSlack::ButtonAction(const std::string& block_id, const std::string& action_id,
                                       const std::string& value, const std::string& text) {
  return {{"type", "button"},
          {"block_id", block_id},
          {"action_id", action_id},
          {"text", {{"type", "plain_text"}, {"text", text}, {"emoji", true}}},
          {"value", value},
          {"action_ts", "1700000001.000300"}};
}

Result<HttpReply> FakeSlack::PostInteractive(const std::string& url,
                                             const std::string& signing_secret,
                                             const nlohmann::json& payload, int64_t timestamp_s) {
  const int64_t ts = timestamp_s > 0 ? timestamp_s : NowMs() / 1000;
  const std::string body = FormEncode({{"payload", payload.dump()}});
  return HttpPost(url,
                  {"Content-Type: application/x-www-form-urlencoded",
                   "X-Slack-Request-Timestamp: " + std::to_string(ts),
                   "X-Slack-Signature: " + SignSlackRequest(signing_secret, ts, body),
                   "User-Agent: Slackbot 1.0 (+https://api.slack.com/robots)"},
                  body, 5000);
}

}  // namespace concierge::testing
