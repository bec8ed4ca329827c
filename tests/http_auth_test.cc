// The HTTP server's foundation against a real server on 127.0.0.1: logins,
// cookies, CSRF, API tokens, roles, settings, audit, error JSON, limits, TLS
// and the static web UI (SPA fallback, no path traversal).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "http/auth.h"
#include "http/http_server.h"
#include "store/audit_log.h"
#include "store/database.h"
#include "store/settings_store.h"
#include "support/test_env.h"

namespace concierge {
namespace {

using testing::RunCommand;
using testing::TempDir;
using Json = nlohmann::json;

constexpr const char* kAdminPassword = "correct horse battery";
constexpr const char* kViewerPassword = "viewer password 1";

void WriteFile(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

Json BodyJson(const httplib::Result& r) { return Json::parse(r->body, nullptr, false); }

// A socket connected to 127.0.0.1:`port` from `source` (any 127.x address
// works on Linux), with a 10 s receive timeout; -1 when it cannot connect.
int ConnectFrom(const char* source, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &from.sin_addr);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads until the peer closes (or 10 s pass without data).
std::string ReadToEnd(int fd) {
  std::string response;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) response.append(buf, n);
  return response;
}

// Sends `request` as is over a plain socket and returns the whole response,
// so paths reach the server exactly as written (no client normalisation).
std::string RawRequest(int port, const std::string& request, const char* source = "127.0.0.1") {
  const int fd = ConnectFrom(source, port);
  if (fd < 0) return "";
  (void)!::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response = ReadToEnd(fd);
  ::close(fd);
  return response;
}

struct LoggedIn {
  std::string cookie;  // "concierge_session=<id>"
  std::string csrf;
  std::string set_cookie;
};

class HttpAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.data_dir = dir_.path();
    config_.http.bind = "127.0.0.1";
    config_.http.port = 0;
    config_.http.max_body_bytes = 64 * 1024;
    config_.http.web_dir = dir_.Sub("web");
    config_.auth.login_max_failures = 3;
    WriteFile(dir_.Sub("web/index.html"), "<!doctype html><title>Concierge UI</title>");
    WriteFile(dir_.Sub("web/assets/app-1234.js"), "console.log('app');");
    WriteFile(dir_.Sub("secret.txt"), "TOP-SECRET-OUTSIDE-WEB-DIR");
    auto db = Database::OpenSqlite(config_.DatabasePath(), 5000);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
    accounts_ = NewSqliteAccountStore(db_.get());
    audit_ = NewSqliteAuditLog(db_.get());
    settings_ = NewSqliteSettingsStore(db_.get());
  }

  void StartServer() {
    ApiContext parts;
    parts.config = &config_;
    parts.audit = audit_.get();
    parts.accounts = accounts_.get();
    parts.settings = settings_.get();
    auto server = HttpServer::Start(parts);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    ASSERT_TRUE(server_->context().auth->AddUser("admin", kAdminPassword, Role::kAdmin).ok());
    ASSERT_TRUE(server_->context().auth->AddUser("vera", kViewerPassword, Role::kViewer).ok());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }

  httplib::Result PostJson(const std::string& path, const Json& body,
                           const httplib::Headers& headers = {}) {
    return client_->Post(path.c_str(), headers, body.dump(), "application/json");
  }

  LoggedIn Login(const std::string& name, const std::string& password) {
    auto r = PostJson("/api/v1/login", {{"name", name}, {"password", password}});
    EXPECT_TRUE(r);
    if (!r || r->status != 200) return {};
    const std::string set_cookie = r->get_header_value("Set-Cookie");
    return {set_cookie.substr(0, set_cookie.find(';')), BodyJson(r)["csrf_token"], set_cookie};
  }

  static httplib::Headers Cookie(const LoggedIn& s, bool with_csrf = true) {
    httplib::Headers h = {{"Cookie", s.cookie}};
    if (with_csrf) h.emplace(kCsrfHeader, s.csrf);
    return h;
  }

  static httplib::Headers Bearer(const std::string& token) {
    return {{"Authorization", "Bearer " + token}};
  }

  TempDir dir_;
  Config config_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<AccountStore> accounts_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<SettingsStore> settings_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpAuthTest, LoginGivesHardenedCookieAndMe) {
  StartServer();
  auto r = PostJson("/api/v1/login", {{"name", "admin"}, {"password", kAdminPassword}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const Json body = BodyJson(r);
  EXPECT_EQ(body["user"]["name"], "admin");
  EXPECT_EQ(body["user"]["role"], "admin");
  EXPECT_EQ(body["csrf_token"].get<std::string>().size(), 64u);
  const std::string set_cookie = r->get_header_value("Set-Cookie");
  EXPECT_EQ(set_cookie.rfind("concierge_session=", 0), 0u) << set_cookie;
  EXPECT_NE(set_cookie.find("; HttpOnly"), std::string::npos);
  EXPECT_NE(set_cookie.find("; SameSite=Strict"), std::string::npos);
  EXPECT_NE(set_cookie.find("; Path=/"), std::string::npos);
  EXPECT_EQ(set_cookie.find("Secure"), std::string::npos) << "no Secure without TLS";
  EXPECT_EQ(r->get_header_value("Cache-Control"), "no-store");

  const std::string cookie = set_cookie.substr(0, set_cookie.find(';'));
  auto me = client_->Get("/api/v1/me", {{"Cookie", cookie}});
  ASSERT_TRUE(me);
  ASSERT_EQ(me->status, 200) << me->body;
  EXPECT_EQ(BodyJson(me)["user"]["name"], "admin");
  EXPECT_EQ(BodyJson(me)["csrf_token"], body["csrf_token"]);

  // Only the hash of the session id is stored.
  const std::string session_id = cookie.substr(cookie.find('=') + 1);
  EXPECT_EQ(ReadFile(config_.DatabasePath()).find(session_id), std::string::npos);

  // Logout deletes the session server side: the old cookie no longer works.
  auto out = client_->Post("/api/v1/logout", Cookie({cookie, body["csrf_token"], ""}), "",
                           "application/json");
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, 204);
  EXPECT_NE(out->get_header_value("Set-Cookie").find("Max-Age=0"), std::string::npos);
  auto after = client_->Get("/api/v1/me", {{"Cookie", cookie}});
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 401);
  EXPECT_EQ(BodyJson(after)["error"]["code"], "unauthorized");
}

TEST_F(HttpAuthTest, BadLoginsAreRefusedThenRateLimited) {
  StartServer();
  for (int i = 0; i < 3; ++i) {
    auto r = PostJson("/api/v1/login", {{"name", "admin"}, {"password", "wrong password"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    EXPECT_EQ(BodyJson(r)["error"]["code"], "unauthorized");
    EXPECT_FALSE(r->has_header("Set-Cookie"));
  }
  // Now even the right password is refused for this name ...
  auto limited = PostJson("/api/v1/login", {{"name", "admin"}, {"password", kAdminPassword}});
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->status, 429);
  EXPECT_EQ(BodyJson(limited)["error"]["code"], "too_many_requests");
  EXPECT_GT(std::stoi(limited->get_header_value("Retry-After")), 0);
  // ... and for any name from this client address.
  auto other = PostJson("/api/v1/login", {{"name", "vera"}, {"password", kViewerPassword}});
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 429);
}

TEST_F(HttpAuthTest, UnknownUserIsUnauthorized) {
  StartServer();
  auto r = PostJson("/api/v1/login", {{"name", "nobody"}, {"password", kAdminPassword}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  auto missing = PostJson("/api/v1/login", {{"name", "admin"}});
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 400);
  EXPECT_EQ(BodyJson(missing)["error"]["code"], "bad_request");
}

TEST_F(HttpAuthTest, CookieCallsNeedTheCsrfToken) {
  StartServer();
  const LoggedIn admin = Login("admin", kAdminPassword);
  const Json token_request = {{"name", "script"}};
  auto none = PostJson("/api/v1/tokens", token_request, Cookie(admin, false));
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 403);
  EXPECT_EQ(BodyJson(none)["error"]["code"], "forbidden");
  auto wrong = PostJson("/api/v1/tokens", token_request,
                        {{"Cookie", admin.cookie}, {kCsrfHeader, std::string(64, 'a')}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 403);
  // Safe methods need no token.
  auto list = client_->Get("/api/v1/tokens", Cookie(admin, false));
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200);
  auto ok = PostJson("/api/v1/tokens", token_request, Cookie(admin));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 201) << ok->body;
}

TEST_F(HttpAuthTest, BearerTokensWorkWithoutCsrfUntilRevoked) {
  StartServer();
  const LoggedIn admin = Login("admin", kAdminPassword);
  auto created = PostJson("/api/v1/tokens", {{"name", "backup script"}}, Cookie(admin));
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  const std::string token = BodyJson(created)["token"];
  const int64_t id = BodyJson(created)["id"];

  auto me = client_->Get("/api/v1/me", Bearer(token));
  ASSERT_TRUE(me);
  ASSERT_EQ(me->status, 200) << me->body;
  EXPECT_EQ(BodyJson(me)["actor"], "token:" + std::to_string(id));
  EXPECT_TRUE(BodyJson(me)["csrf_token"].is_null());
  // Unsafe methods with a bearer token need no CSRF header.
  auto second = PostJson("/api/v1/tokens", {{"name", "another"}}, Bearer(token));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 201) << second->body;
  // The token itself is never listed or stored.
  auto list = client_->Get("/api/v1/tokens", Bearer(token));
  ASSERT_TRUE(list);
  EXPECT_EQ(list->body.find(token), std::string::npos);
  EXPECT_EQ(BodyJson(list)["items"].size(), 2u);
  EXPECT_EQ(ReadFile(config_.DatabasePath()).find(token), std::string::npos);

  auto revoke = client_->Delete(("/api/v1/tokens/" + std::to_string(id)).c_str(), Cookie(admin));
  ASSERT_TRUE(revoke);
  EXPECT_EQ(revoke->status, 204);
  auto revoked = client_->Get("/api/v1/me", Bearer(token));
  ASSERT_TRUE(revoked);
  EXPECT_EQ(revoked->status, 401);
  auto again = client_->Delete(("/api/v1/tokens/" + std::to_string(id)).c_str(), Cookie(admin));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 404);
  auto bad_id = client_->Delete("/api/v1/tokens/abc", Cookie(admin));
  ASSERT_TRUE(bad_id);
  EXPECT_EQ(bad_id->status, 400);

  auto garbage = client_->Get("/api/v1/me", Bearer("cct_not-a-token"));
  ASSERT_TRUE(garbage);
  EXPECT_EQ(garbage->status, 401);
  auto basic = client_->Get("/api/v1/me", {{"Authorization", "Basic YWRtaW46eA=="}});
  ASSERT_TRUE(basic);
  EXPECT_EQ(basic->status, 401);
}

TEST_F(HttpAuthTest, ViewersCannotUseAdminRoutes) {
  StartServer();
  auto anonymous = client_->Get("/api/v1/users");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  const LoggedIn viewer = Login("vera", kViewerPassword);
  auto me = client_->Get("/api/v1/me", Cookie(viewer));
  ASSERT_TRUE(me);
  EXPECT_EQ(BodyJson(me)["user"]["role"], "viewer");
  for (const char* path : {"/api/v1/users", "/api/v1/tokens", "/api/v1/settings",
                           "/api/v1/audit"}) {
    auto r = client_->Get(path, Cookie(viewer));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403) << path;
    EXPECT_EQ(BodyJson(r)["error"]["code"], "forbidden") << path;
  }
  auto add = PostJson("/api/v1/users", {{"name", "mallory"}, {"password", "12345678"},
                                        {"role", "admin"}}, Cookie(viewer));
  ASSERT_TRUE(add);
  EXPECT_EQ(add->status, 403);
}

TEST_F(HttpAuthTest, AdminsManageUsersButKeepOneAdmin) {
  StartServer();
  const LoggedIn admin = Login("admin", kAdminPassword);
  auto add = PostJson("/api/v1/users", {{"name", "olga"}, {"password", "olga's password"},
                                        {"role", "viewer"}}, Cookie(admin));
  ASSERT_TRUE(add);
  EXPECT_EQ(add->status, 201) << add->body;
  auto dup = PostJson("/api/v1/users", {{"name", "olga"}, {"password", "olga's password"},
                                        {"role", "viewer"}}, Cookie(admin));
  ASSERT_TRUE(dup);
  EXPECT_EQ(dup->status, 409);
  auto bad_role = PostJson("/api/v1/users", {{"name", "x"}, {"password", "12345678"},
                                             {"role", "root"}}, Cookie(admin));
  ASSERT_TRUE(bad_role);
  EXPECT_EQ(bad_role->status, 400);
  auto short_password = PostJson("/api/v1/users", {{"name", "y"}, {"password", "short"},
                                                   {"role", "viewer"}}, Cookie(admin));
  ASSERT_TRUE(short_password);
  EXPECT_EQ(short_password->status, 400);
  auto list = client_->Get("/api/v1/users", Cookie(admin));
  ASSERT_TRUE(list);
  EXPECT_EQ(BodyJson(list)["items"].size(), 3u);
  EXPECT_EQ(list->body.find("password"), std::string::npos);

  auto remove = client_->Delete("/api/v1/users/olga", Cookie(admin));
  ASSERT_TRUE(remove);
  EXPECT_EQ(remove->status, 204);
  auto last_admin = client_->Delete("/api/v1/users/admin", Cookie(admin));
  ASSERT_TRUE(last_admin);
  EXPECT_EQ(last_admin->status, 409);
  auto unknown = client_->Delete("/api/v1/users/olga", Cookie(admin));
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
}

TEST_F(HttpAuthTest, SettingsRoundTripValidateAndHideSecrets) {
  StartServer();
  const LoggedIn admin = Login("admin", kAdminPassword);
  auto before = client_->Get("/api/v1/settings", Cookie(admin));
  ASSERT_TRUE(before);
  ASSERT_EQ(before->status, 200) << before->body;
  EXPECT_EQ(BodyJson(before)["settings"]["recognition"]["gallery_cap"].get<int>(),
                  config_.recognition.gallery_cap);
  EXPECT_FALSE(BodyJson(before)["settings"].contains("data_dir"));

  auto put = client_->Put("/api/v1/settings", Cookie(admin),
                          R"({"recognition":{"gallery_cap":12},
                              "notify":{"slack_bot_token":"xoxb-very-secret"}})",
                          "application/json");
  ASSERT_TRUE(put);
  ASSERT_EQ(put->status, 200) << put->body;
  const Json changed = BodyJson(put)["changed"];
  EXPECT_NE(std::find(changed.begin(), changed.end(), "recognition.gallery_cap"),
            changed.end());
  EXPECT_EQ(BodyJson(put)["restart_required"], changed);
  EXPECT_EQ(put->body.find("xoxb-very-secret"), std::string::npos);

  // The secret is saved to <data_dir>/config.json, the rest to the database;
  // a start lays the database's over the file's.
  const Json file = Json::parse(ReadFile(config_.ConfigFilePath()));
  EXPECT_EQ(file["notify"]["slack_bot_token"], "xoxb-very-secret");
  EXPECT_FALSE(file.contains("recognition")) << file.dump();
  auto stored = settings_->Load();
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ((*stored)["recognition"]["gallery_cap"], 12);
  EXPECT_EQ(stored->dump().find("xoxb"), std::string::npos) << "no secret in the database";
  auto reloaded = LoadConfig(dir_.path(), "");
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().ToString();
  EXPECT_EQ(reloaded->notify.slack_bot_token, "xoxb-very-secret");
  auto started = ConfigWithStoredSettings(*reloaded, *stored);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  EXPECT_EQ(started->recognition.gallery_cap, 12);

  // GET shows the secret masked; sending the mask back keeps the secret.
  auto after = client_->Get("/api/v1/settings", Cookie(admin));
  ASSERT_TRUE(after);
  Json shown = BodyJson(after)["settings"];
  EXPECT_EQ(shown["notify"]["slack_bot_token"], "***");
  EXPECT_EQ(shown["recognition"]["gallery_cap"].get<int>(), 12);
  auto resend = client_->Put("/api/v1/settings", Cookie(admin), shown.dump(), "application/json");
  ASSERT_TRUE(resend);
  EXPECT_EQ(resend->status, 200) << resend->body;
  EXPECT_TRUE(BodyJson(resend)["changed"].empty()) << resend->body.substr(0, 300);
  EXPECT_EQ(*settings_->Load(), Json({{"recognition", {{"gallery_cap", 12}}}}))
      << "what was sent back unchanged is not stored";
  EXPECT_EQ(Json::parse(ReadFile(config_.ConfigFilePath()))["notify"]["slack_bot_token"],
            "xoxb-very-secret");

  for (const char* bad : {R"({"recognition":{"no_such_key":1}})",
                          R"({"recognition":{"gallery_cap":"high"}})",
                          R"({"data_dir":"/tmp"})"}) {
    auto r = client_->Put("/api/v1/settings", Cookie(admin), bad, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_EQ(BodyJson(r)["error"]["code"], "bad_request") << bad;
  }
  EXPECT_EQ((*settings_->Load())["recognition"]["gallery_cap"], 12);

  // Both changes wait for a restart: GET says so until this server starts
  // again with them (here: its context's settings in force).
  auto pending = client_->Get("/api/v1/settings", Cookie(admin));
  ASSERT_TRUE(pending);
  EXPECT_EQ(BodyJson(pending)["restart_required"],
            Json({"notify.slack_bot_token", "recognition.gallery_cap"}));
  EXPECT_EQ(BodyJson(pending)["shared"], false);

  // null resets a setting to its default, wherever it was saved.
  auto reset = client_->Put("/api/v1/settings", Cookie(admin),
                            R"({"recognition":{"gallery_cap":null}})", "application/json");
  ASSERT_TRUE(reset);
  ASSERT_EQ(reset->status, 200) << reset->body;
  EXPECT_EQ(BodyJson(reset)["settings"]["recognition"]["gallery_cap"],
            Config{}.recognition.gallery_cap);
  EXPECT_EQ(BodyJson(reset)["restart_required"], Json({"notify.slack_bot_token"}));
  EXPECT_FALSE(settings_->Load()->contains("recognition"));
}

TEST_F(HttpAuthTest, AuditListsLoginsAndSettingsChanges) {
  StartServer();
  ASSERT_TRUE(PostJson("/api/v1/login", {{"name", "vera"}, {"password", "nope nope"}}));
  const LoggedIn admin = Login("admin", kAdminPassword);
  auto put = client_->Put("/api/v1/settings", Cookie(admin),
                          R"({"serve":{"visit_window_s":120}})", "application/json");
  ASSERT_TRUE(put);
  ASSERT_EQ(put->status, 200) << put->body;

  auto page = client_->Get("/api/v1/audit?limit=2", Cookie(admin));
  ASSERT_TRUE(page);
  ASSERT_EQ(page->status, 200) << page->body;
  const Json first = BodyJson(page);
  ASSERT_EQ(first["items"].size(), 2u);
  EXPECT_EQ(first["items"][0]["action"], "settings");
  EXPECT_EQ(first["items"][0]["actor"], "user:admin");
  EXPECT_EQ(first["items"][0]["detail"]["changed"][0], "serve.visit_window_s");
  EXPECT_TRUE(first["items"][0]["at"].is_string());
  EXPECT_EQ(first["items"][1]["action"], "login");
  EXPECT_EQ(first["items"][1]["actor"], "user:admin");
  ASSERT_TRUE(first["next_cursor"].is_string());

  auto rest = client_->Get(
      ("/api/v1/audit?limit=2&cursor=" + first["next_cursor"].get<std::string>()).c_str(),
      Cookie(admin));
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->status, 200) << rest->body;
  ASSERT_EQ(BodyJson(rest)["items"].size(), 1u);
  EXPECT_EQ(BodyJson(rest)["items"][0]["action"], "login_failed");
  EXPECT_EQ(BodyJson(rest)["items"][0]["target"], "user:vera");

  for (const char* bad : {"/api/v1/audit?limit=0", "/api/v1/audit?limit=501",
                          "/api/v1/audit?limit=ten", "/api/v1/audit?cursor=%%%"}) {
    auto r = client_->Get(bad, Cookie(admin));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad;
  }
}

TEST_F(HttpAuthTest, BadBodiesGetJsonErrors) {
  StartServer();
  auto too_large = client_->Post("/api/v1/login", std::string(100 * 1024, 'x'),
                                 "application/json");
  ASSERT_TRUE(too_large);
  EXPECT_EQ(too_large->status, 413);
  EXPECT_EQ(BodyJson(too_large)["error"]["code"], "payload_too_large");

  auto malformed = client_->Post("/api/v1/login", "{\"name\": ", "application/json");
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 400);
  EXPECT_EQ(BodyJson(malformed)["error"]["code"], "bad_request");

  auto not_object = client_->Post("/api/v1/login", "[1,2]", "application/json");
  ASSERT_TRUE(not_object);
  EXPECT_EQ(not_object->status, 400);

  // Chunked bodies would escape the size limit, so they are refused outright.
  const std::string chunked = RawRequest(
      server_->port(),
      "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n{\"a\":\r\n0\r\n\r\n");
  EXPECT_EQ(chunked.rfind("HTTP/1.1 411", 0), 0u) << chunked;
  EXPECT_NE(chunked.find("\"code\":\"bad_request\""), std::string::npos) << chunked;

  auto form = client_->Post("/api/v1/login", "name=admin", "application/x-www-form-urlencoded");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 415);
  EXPECT_EQ(BodyJson(form)["error"]["code"], "unsupported_media_type");
}

TEST_F(HttpAuthTest, UnknownApiPathsAreJson404) {
  StartServer();
  for (const std::string path : {"/api/v1/nope", "/api", "/api/v2/users", "/slack/other"}) {
    auto r = client_->Get(path.c_str());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404) << path;
    EXPECT_EQ(BodyJson(r)["error"]["code"], "not_found") << path;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << path;
  }
  auto post = client_->Post("/api/v1/nope", "{}", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 404);
  EXPECT_EQ(BodyJson(post)["error"]["code"], "not_found");
}

TEST_F(HttpAuthTest, ServesTheUiWithSpaFallbackAndNoTraversal) {
  StartServer();
  auto index = client_->Get("/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_NE(index->body.find("Concierge UI"), std::string::npos);
  EXPECT_EQ(index->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(index->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_NE(index->get_header_value("Content-Security-Policy").find("default-src 'self'"),
            std::string::npos);
  EXPECT_EQ(index->get_header_value("Cache-Control"), "no-cache");

  auto route = client_->Get("/people/alice");
  ASSERT_TRUE(route);
  EXPECT_EQ(route->status, 200);
  EXPECT_NE(route->body.find("Concierge UI"), std::string::npos);

  auto asset = client_->Get("/assets/app-1234.js");
  ASSERT_TRUE(asset);
  EXPECT_EQ(asset->status, 200);
  EXPECT_EQ(asset->body, "console.log('app');");
  EXPECT_EQ(asset->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_NE(asset->get_header_value("Cache-Control").find("immutable"), std::string::npos);

  auto missing = client_->Get("/assets/missing.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);

  for (const std::string path :
       {"/../../etc/passwd", "/../secret.txt", "/%2e%2e/secret.txt", "/%2e%2e/%2e%2e/etc/passwd",
        "/..%2fsecret.txt", "/assets/..%2f..%2fsecret.txt", "/assets/%2e%2e/%2e%2e/secret.txt",
        "/..\\secret.txt", "/%2e%2e%5csecret.txt", "/assets/../../secret.txt"}) {
    const std::string response = RawRequest(
        server_->port(), "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ASSERT_FALSE(response.empty()) << path;
    EXPECT_EQ(response.find("TOP-SECRET"), std::string::npos) << path;
    EXPECT_EQ(response.find("root:"), std::string::npos) << path;
  }
}

TEST_F(HttpAuthTest, ServesTlsWithSecureCookies) {
  const std::string cert = dir_.Sub("cert.pem");
  const std::string key = dir_.Sub("key.pem");
  const auto made = RunCommand({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048",
                                "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext",
                                "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  config_.http.tls_cert_file = cert;
  config_.http.tls_key_file = key;
  StartServer();
  EXPECT_EQ(server_->url().rfind("https://", 0), 0u);

  httplib::SSLClient tls("127.0.0.1", server_->port());
  tls.set_ca_cert_path(cert.c_str());
  tls.enable_server_certificate_verification(true);
  auto r = tls.Post("/api/v1/login", Json({{"name", "admin"}, {"password", kAdminPassword}}).dump(),
                    "application/json");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->get_header_value("Set-Cookie").find("; Secure"), std::string::npos);

  // Plain HTTP to the TLS port gets no answer.
  auto plain = client_->Get("/api/v1/me");
  EXPECT_TRUE(!plain || plain->status != 401);
}

TEST_F(HttpAuthTest, CliCreatesTheFirstAdminAndTokens) {
  const std::string binary = testing::BinaryPath();
  const auto added =
      RunCommand({"/bin/sh", "-c",
                  "printf 'first admin pw\\n' | '" + binary + "' --data-dir '" + dir_.path() +
                      "' user add boss --role admin --password-stdin"});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  const auto token = RunCommand({binary, "--data-dir", dir_.path(), "--json", "token", "create",
                                 "deploy", "--user", "boss"});
  ASSERT_EQ(token.exit_code, 0) << token.err;
  const std::string value = Json::parse(token.out)["token"];
  const auto listed = RunCommand({binary, "--data-dir", dir_.path(), "token", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("deploy"), std::string::npos);
  EXPECT_EQ(listed.out.find(value), std::string::npos);
  const auto no_user = RunCommand({binary, "--data-dir", dir_.path(), "token", "create", "x",
                                   "--user", "ghost"});
  EXPECT_EQ(no_user.exit_code, 3) << "not found";

  StartServer();
  EXPECT_FALSE(Login("boss", "first admin pw").csrf.empty());
  auto me = client_->Get("/api/v1/me", Bearer(value));
  ASSERT_TRUE(me);
  EXPECT_EQ(BodyJson(me)["user"]["name"], "boss");

  const auto revoked = RunCommand({binary, "--data-dir", dir_.path(), "token", "revoke", "1"});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.err;
  auto refused = client_->Get("/api/v1/me", Bearer(value));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
}

TEST_F(HttpAuthTest, BadTlsFilesAreReported) {
  config_.http.tls_cert_file = dir_.Sub("missing.pem");
  config_.http.tls_key_file = dir_.Sub("missing-key.pem");
  ApiContext parts;
  parts.config = &config_;
  parts.audit = audit_.get();
  parts.accounts = accounts_.get();
  auto server = HttpServer::Start(parts);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(server.status().message().find("missing.pem"), std::string::npos);
}

TEST_F(HttpAuthTest, DeepJsonBodiesAre400AndTheServerStaysUp) {
  config_.http.max_body_bytes = 2 * 1024 * 1024;  // let the bodies reach the JSON parser
  StartServer();
  const LoggedIn admin = Login("admin", kAdminPassword);
  std::string deep;
  for (int i = 0; i < 50'000; ++i) deep += "{\"a\":";
  deep += "1" + std::string(50'000, '}');
  ASSERT_GT(deep.size(), 250'000u);
  for (const char* path : {"/api/v1/settings", "/api/v1/login", "/api/v1/tokens"}) {
    auto r = std::string(path) == "/api/v1/settings"
                 ? client_->Put(path, Cookie(admin), deep, "application/json")
                 : client_->Post(path, Cookie(admin), deep, "application/json");
    ASSERT_TRUE(r) << path << ": the server went down";
    EXPECT_EQ(r->status, 400) << path;
    EXPECT_NE(BodyJson(r)["error"]["message"].get<std::string>().find("nested deeper"),
              std::string::npos)
        << r->body;
  }
  auto huge = client_->Post("/api/v1/login", std::string(1100 * 1024, ' ') + "{}",
                            "application/json");
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 413) << "over the 1 MiB JSON limit";
  auto health = client_->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(HttpAuthTest, WrongTypesInBodiesAre400NamingTheField) {
  StartServer();
  const LoggedIn admin = Login("admin", kAdminPassword);
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"/api/v1/login", R"({"name": 5, "password": "x"})", "name"},
      {"/api/v1/login", R"({"name": "admin", "password": ["x"]})", "password"},
      {"/api/v1/users", R"({"name": "olga", "password": "long enough", "role": 1})", "role"},
      {"/api/v1/users", R"({"name": {"a": 1}, "password": "long enough", "role": "viewer"})",
       "name"},
      {"/api/v1/tokens", R"({"name": 3.5})", "name"},
      {"/api/v1/tokens", R"({"name": "ci", "user": false})", "user"},
      {"/api/v1/settings", R"({"recognition": {"gallery_cap": "high"}})", "gallery_cap"},
      {"/api/v1/settings", R"({"recognition": 7})", "recognition"},
  };
  for (const auto& [path, body, field] : cases) {
    auto r = path == "/api/v1/settings"
                 ? client_->Put(path.c_str(), Cookie(admin), body, "application/json")
                 : client_->Post(path.c_str(), Cookie(admin), body, "application/json");
    ASSERT_TRUE(r) << path << " " << body;
    EXPECT_EQ(r->status, 400) << path << " " << body << " -> " << r->body;
    EXPECT_NE(r->body.find(field), std::string::npos) << path << " " << body << " -> " << r->body;
  }
}

TEST_F(HttpAuthTest, PathsAddressesAndSecretDestinationsAreNotSettableOverHttp) {
  StartServer();
  const LoggedIn admin = Login("admin", kAdminPassword);
  auto get = client_->Get("/api/v1/settings", Cookie(admin));
  ASSERT_TRUE(get);
  const Json file_only = BodyJson(get)["file_only"];
  for (const char* key :
       {"http.web_dir", "notify.slack_api_url", "notify.webhook_url", "http.bind"})
    EXPECT_NE(std::find(file_only.begin(), file_only.end(), key), file_only.end()) << key;

  const std::vector<std::pair<std::string, std::string>> refused = {
      {R"({"http": {"web_dir": "/"}})", "http.web_dir"},
      {R"({"notify": {"slack_api_url": "https://collector.example/api"}})",
       "notify.slack_api_url"},
      {R"({"notify": {"webhook_url": "https://collector.example/hook"}})", "notify.webhook_url"},
      {R"({"notify": {"webhook_secret": "new"}})", "notify.webhook_secret"},
      {R"({"http": {"bind": "0.0.0.0"}})", "http.bind"},
      {R"({"vision": {"models_dir": "/tmp"}})", "vision.models_dir"},
      {R"({"objects": {"s3_endpoint": "http://collector.example"}})", "objects.s3_endpoint"},
      {R"({"database": {"sqlite_path": "/etc/passwd"}})", "database.sqlite_path"},
      {R"({"edge": {"cameras": [{"name": "x", "source": "/etc/shadow"}]}})", "edge.cameras"},
      {R"({"bus": {"mqtt": {"host": "collector.example"}}})", "bus.mqtt.host"},
      {R"({"data_dir": "/tmp"})", "data_dir"},
  };
  for (const auto& [body, key] : refused) {
    auto r = client_->Put("/api/v1/settings", Cookie(admin), body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << body;
    EXPECT_NE(BodyJson(r)["error"]["message"].get<std::string>().find(key), std::string::npos)
        << r->body;
  }
  EXPECT_FALSE(std::filesystem::exists(config_.ConfigFilePath())) << "nothing was written";

  // The UI sends back what it was shown: unchanged file-only values pass.
  auto resend = client_->Put("/api/v1/settings", Cookie(admin),
                             BodyJson(get)["settings"].dump(), "application/json");
  ASSERT_TRUE(resend);
  EXPECT_EQ(resend->status, 200) << resend->body;
}

TEST_F(HttpAuthTest, MetricsNeedTheMetricsTokenOrALogin) {
  config_.auth.metrics_token = "scrape-me-0123456789";
  StartServer();
  auto anonymous = client_->Get("/metrics");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_EQ(BodyJson(anonymous)["error"]["code"], "unauthorized");
  auto wrong = client_->Get("/metrics", Bearer("scrape-me-wrong"));
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto scraper = client_->Get("/metrics", Bearer("scrape-me-0123456789"));
  ASSERT_TRUE(scraper);
  EXPECT_EQ(scraper->status, 200) << scraper->body;
  EXPECT_NE(scraper->get_header_value("Content-Type").find("text/plain"), std::string::npos);
  const LoggedIn viewer = Login("vera", kViewerPassword);
  auto user = client_->Get("/metrics", Cookie(viewer));
  ASSERT_TRUE(user);
  EXPECT_EQ(user->status, 200);
}

// Whether the server closes `fd` (EOF or reset) before `deadline`; what it
// sends first is read and dropped.
bool ClosedBy(int fd, std::chrono::steady_clock::time_point deadline) {
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) return true;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return true;
  }
  return false;
}

TEST_F(HttpAuthTest, SlowHeaderClientsCannotHoldTheServer) {
  // Long enough that the slow clients surely still hold their connections
  // while the checks below run on a busy machine.
  config_.http.header_timeout_s = 12;
  StartServer();
  // 64 clients from one address send a request head one line at a time.
  std::vector<int> slow;
  for (int i = 0; i < 64; ++i) {
    const int fd = ConnectFrom("127.0.0.1", server_->port());
    ASSERT_GE(fd, 0);
    const std::string start = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
    (void)!::send(fd, start.data(), start.size(), MSG_NOSIGNAL);
    slow.push_back(fd);
  }
  const auto connected = std::chrono::steady_clock::now();
  std::atomic<bool> stop{false};
  std::atomic<int> rounds{0};
  std::thread dribble([&] {
    for (int line = 0; !stop; ++line) {
      const std::string header = "X-Slow-" + std::to_string(line) + ": 1\r\n";
      for (const int fd : slow) (void)!::send(fd, header.data(), header.size(), MSG_NOSIGNAL);
      ++rounds;
      for (int i = 0; i < 10 && !stop; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  ASSERT_TRUE(testing::Eventually([&] { return rounds >= 2; }));

  // Another client is served while the slow ones still hold their connections ...
  const std::string health = RawRequest(
      server_->port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      "127.0.0.2");
  EXPECT_EQ(health.rfind("HTTP/1.1 200", 0), 0u) << health;
  // ... while the slow address has no more connections to spare.
  const std::string refused = RawRequest(
      server_->port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const auto checked = std::chrono::steady_clock::now() - connected;
  EXPECT_EQ(refused.rfind("HTTP/1.1 503", 0), 0u) << refused;
  EXPECT_LT(checked, std::chrono::seconds(config_.http.header_timeout_s))
      << "the checks ran after the slow clients' time was up: they prove nothing";

  // Every slow client is cut off once its head is late, though it keeps sending.
  const auto deadline = connected + std::chrono::seconds(config_.http.header_timeout_s + 30);
  for (const int fd : slow) EXPECT_TRUE(ClosedBy(fd, deadline)) << "a slow client kept its slot";
  stop = true;
  dribble.join();
  for (const int fd : slow) ::close(fd);
}

}  // namespace
}  // namespace concierge
