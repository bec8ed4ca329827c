#include "http/auth_routes.h"

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "http/api_support.h"
#include "http/auth.h"
#include "http/route_support.h"

namespace concierge {

namespace {

nlohmann::json UserJson(const User& user) {
  return {{"name", user.name}, {"role", ToString(user.role)}};
}

nlohmann::json TimeJson(int64_t ms) {
  return ms > 0 ? nlohmann::json(FormatIsoUtc(ms)) : nlohmann::json(nullptr);
}

// A user as the users list and a new user's answer show it.
nlohmann::json UserResourceJson(const User& user) {
  nlohmann::json item = UserJson(user);
  item["created"] = TimeJson(user.created_ms);
  item["created_ms"] = user.created_ms;
  return item;
}

// Reads the string field `key`, answering 400 when it is missing or not a string.
std::optional<std::string> ReadStringField(const nlohmann::json& body, const char* key,
                                           httplib::Response& res) {
  const auto it = body.find(key);
  if (it == body.end() || !it->is_string()) {
    SendErrorCode(res, 400, std::string("field '") + key + "' must be a string");
    return std::nullopt;
  }
  return it->get<std::string>();
}

class AccountRoutes {
 public:
  explicit AccountRoutes(const ApiContext& ctx) : ctx_(ctx) {}

  // Public: it is how a principal comes to be.
  void Login(const httplib::Request& req, httplib::Response& res) {
    const auto body = ReadJsonObject(req, res);
    if (!body) return;
    const auto name = ReadStringField(*body, "name", res);
    if (!name) return;
    const auto password = ReadStringField(*body, "password", res);
    if (!password) return;
    auto result = ctx_.auth->Login(*name, *password, req.remote_addr);
    if (!result.ok()) return SendError(res, result.status());
    switch (result->outcome) {
      case LoginResult::Outcome::kRateLimited:
        res.set_header("Retry-After", std::to_string(result->retry_after_s));
        return SendErrorCode(res, 429, "too many failed logins; try again in " +
                                           std::to_string(result->retry_after_s) + " s");
      case LoginResult::Outcome::kBadCredentials:
        AuditAction(ctx_, "anonymous", "login_failed", "user:" + name->substr(0, 64),
                    {{"client", req.remote_addr}});
        return SendErrorCode(res, 401, "wrong user name or password");
      case LoginResult::Outcome::kOk: break;
    }
    const Session& session = result->session;
    AuditAction(ctx_, "user:" + session.user.name, "login", "user:" + session.user.name,
                {{"client", req.remote_addr}});
    res.set_header("Set-Cookie", ctx_.auth->SessionCookie(session));
    SendJson(res, {{"user", UserJson(session.user)}, {"csrf_token", session.csrf_token}});
  }

  void Logout(const httplib::Request&, httplib::Response& res, const Principal& who) {
    if (!who.session_hash.empty()) {
      if (Status s = ctx_.auth->Logout(who.session_hash); !s.ok()) return SendError(res, s);
      AuditAction(ctx_, who, "logout", "user:" + who.user.name);
    }
    res.set_header("Set-Cookie", ctx_.auth->ClearedSessionCookie());
    res.set_header("Cache-Control", "no-store");
    res.status = 204;
  }

  void Me(const httplib::Request&, httplib::Response& res, const Principal& who) {
    SendJson(res, {{"user", UserJson(who.user)},
                   {"csrf_token", who.csrf_token.empty() ? nlohmann::json(nullptr)
                                                         : nlohmann::json(who.csrf_token)},
                   {"actor", who.actor}});
  }

  void ListUsers(const httplib::Request&, httplib::Response& res, const Principal&) {
    auto users = ctx_.auth->ListUsers();
    if (!users.ok()) return SendError(res, users.status());
    nlohmann::json items = nlohmann::json::array();
    for (const auto& user : *users) items.push_back(UserResourceJson(user));
    SendJson(res, PageJson(std::move(items), ""));
  }

  void AddUser(const httplib::Request& req, httplib::Response& res, const Principal& who) {
    const auto body = ReadJsonObject(req, res);
    if (!body) return;
    const auto name = ReadStringField(*body, "name", res);
    if (!name) return;
    const auto password = ReadStringField(*body, "password", res);
    if (!password) return;
    const auto role_text = ReadStringField(*body, "role", res);
    if (!role_text) return;
    auto role = ParseRole(*role_text);
    if (!role.ok()) return SendError(res, role.status());
    auto user = ctx_.auth->AddUser(*name, *password, *role);
    if (!user.ok()) return SendError(res, user.status());
    AuditAction(ctx_, who, "user_add", "user:" + user->name, {{"role", ToString(*role)}});
    SendJson(res, UserResourceJson(*user), 201);
  }

  void RemoveUser(const httplib::Request& req, httplib::Response& res, const Principal& who) {
    const std::string name = req.matches[1].str();
    if (Status s = ctx_.auth->RemoveUser(name); !s.ok()) return SendError(res, s);
    AuditAction(ctx_, who, "user_remove", "user:" + name);
    res.status = 204;
  }

  void ListTokens(const httplib::Request&, httplib::Response& res, const Principal&) {
    auto tokens = ctx_.auth->ListTokens();
    if (!tokens.ok()) return SendError(res, tokens.status());
    nlohmann::json items = nlohmann::json::array();
    for (const auto& t : *tokens)
      items.push_back({{"id", t.id},
                       {"name", t.name},
                       {"user", t.user},
                       {"created", TimeJson(t.created_ms)},
                       {"created_ms", t.created_ms},
                       {"last_used", TimeJson(t.last_used_ms)},
                       {"last_used_ms", t.last_used_ms},
                       {"revoked", TimeJson(t.revoked_ms)},
                       {"revoked_ms", t.revoked_ms}});
    SendJson(res, PageJson(std::move(items), ""));
  }

  void CreateToken(const httplib::Request& req, httplib::Response& res, const Principal& who) {
    const auto body = ReadJsonObject(req, res);
    if (!body) return;
    const auto name = ReadStringField(*body, "name", res);
    if (!name) return;
    std::string user = who.user.name;
    if (body->contains("user")) {
      const auto other = ReadStringField(*body, "user", res);
      if (!other) return;
      user = *other;
    }
    auto token = ctx_.auth->CreateToken(*name, user);
    if (!token.ok()) return SendError(res, token.status());
    AuditAction(ctx_, who, "token_create", "token:" + std::to_string(token->id),
                {{"name", token->name}, {"user", user}});
    SendJson(res,
             {{"id", token->id}, {"name", token->name}, {"user", user}, {"token", token->token}},
             201);
  }

  void RevokeToken(const httplib::Request& req, httplib::Response& res, const Principal& who) {
    const auto id = ReadPathInt(req, res);
    if (!id) return;
    if (Status s = ctx_.auth->RevokeToken(*id); !s.ok()) return SendError(res, s);
    AuditAction(ctx_, who, "token_revoke", "token:" + std::to_string(*id));
    res.status = 204;
  }

 private:
  const ApiContext& ctx_;
};

}  // namespace

void RegisterAuthRoutes(httplib::Server& server, const ApiContext& ctx) {
  auto routes = std::make_shared<AccountRoutes>(ctx);
  server.Post("/api/v1/login", [routes, auth = ctx.auth](const httplib::Request& req,
                                                         httplib::Response& res) {
    if (auth == nullptr) return RefuseWithoutAuthenticator(res);
    routes->Login(req, res);
  });
  server.Post("/api/v1/logout", Route(routes, ctx, Role::kViewer, &AccountRoutes::Logout));
  server.Get("/api/v1/me", Route(routes, ctx, Role::kViewer, &AccountRoutes::Me));
  server.Get("/api/v1/users", Route(routes, ctx, Role::kAdmin, &AccountRoutes::ListUsers));
  server.Post("/api/v1/users", Route(routes, ctx, Role::kAdmin, &AccountRoutes::AddUser));
  server.Delete("/api/v1/users/([^/]+)",
                Route(routes, ctx, Role::kAdmin, &AccountRoutes::RemoveUser));
  server.Get("/api/v1/tokens", Route(routes, ctx, Role::kAdmin, &AccountRoutes::ListTokens));
  server.Post("/api/v1/tokens", Route(routes, ctx, Role::kAdmin, &AccountRoutes::CreateToken));
  server.Delete("/api/v1/tokens/([^/]+)",
                Route(routes, ctx, Role::kAdmin, &AccountRoutes::RevokeToken));
}

}  // namespace concierge
