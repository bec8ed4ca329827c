#include "http/auth_routes.h"

#include <mutex>

#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/json_limits.h"
#include "http/api_support.h"
#include "http/auth.h"
#include "http/config_file.h"
#include "store/audit_log.h"

namespace concierge {

namespace {

// RedactedConfig shows secrets as this; a PUT that sends it back keeps the secret.
constexpr const char* kRedacted = "***";

nlohmann::json UserJson(const User& user) {
  return {{"name", user.name}, {"role", ToString(user.role)}};
}

nlohmann::json TimeJson(int64_t ms) {
  return ms > 0 ? nlohmann::json(FormatIsoUtc(ms)) : nlohmann::json(nullptr);
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

// Records an audit entry; a failure is logged, never shown to the caller,
// because the action itself already happened.
void Audit(const ApiContext& ctx, const std::string& actor, const std::string& action,
           const std::string& target, const nlohmann::json& detail = nlohmann::json::object()) {
  if (ctx.audit == nullptr) {
    spdlog::info("audit: actor={} action={} target={}", actor, action, target);
    return;
  }
  if (Status s = ctx.audit->Record(actor, action, target, detail); !s.ok())
    spdlog::error("audit: cannot record action={} target={}: {}", action, target, s.ToString());
}

// ---- settings ----

// Drops every "***" string from a patch, so redacted secrets that the UI
// sends back unchanged keep their stored value.
void DropRedacted(nlohmann::json& patch) {
  if (!patch.is_object()) return;
  for (auto it = patch.begin(); it != patch.end();) {
    if (it->is_string() && it->get<std::string>() == kRedacted) {
      it = patch.erase(it);
      continue;
    }
    DropRedacted(*it);
    ++it;
  }
}

// Rounds every number to float precision, as Config holds them, so 0.61
// from a file and 0.61f read back through Config compare equal.
void RoundToFloat(nlohmann::json& doc) {
  if (doc.is_number_float()) doc = static_cast<double>(static_cast<float>(doc.get<double>()));
  if (doc.is_structured())
    for (auto& child : doc) RoundToFloat(child);
}

// Dotted paths ("recognition.gallery_cap") of the settings that two
// config files give different values, defaults filled in for absent keys.
std::vector<std::string> ChangedKeys(const nlohmann::json& before_file,
                                     const nlohmann::json& after_file) {
  // The defaults hold no secrets, so their redacted form is the plain one.
  nlohmann::json before = RedactedConfig(Config{});
  nlohmann::json after = before;
  before.merge_patch(before_file);
  after.merge_patch(after_file);
  RoundToFloat(before);
  RoundToFloat(after);
  std::vector<std::string> keys;
  for (const auto& op : nlohmann::json::diff(before, after)) {
    std::string key = op["path"].get<std::string>().substr(1);
    std::replace(key.begin(), key.end(), '/', '.');
    if (keys.empty() || keys.back() != key) keys.push_back(key);
  }
  return keys;
}

// What GET and PUT show: everything but data_dir (fixed per install), secrets masked.
nlohmann::json SettingsJson(const Config& config) {
  nlohmann::json doc = RedactedConfig(config);
  doc.erase("data_dir");
  return doc;
}

class SettingsRoutes {
 public:
  explicit SettingsRoutes(const ApiContext& ctx) : ctx_(ctx) {}

  void Get(const httplib::Request& req, httplib::Response& res) {
    if (!ctx_.auth->Require(req, res, Role::kAdmin)) return;
    std::lock_guard<std::mutex> lock(ConfigFileMutex());
    auto stored = StoredConfig();
    if (!stored.ok()) return SendError(res, stored.status());
    SendJson(res, {{"settings", SettingsJson(stored->second)},
                   {"file", ctx_.config->ConfigFilePath()},
                   {"file_only", kFileOnlySettings}});
  }

  void Put(const httplib::Request& req, httplib::Response& res) {
    const auto principal = ctx_.auth->Require(req, res, Role::kAdmin);
    if (!principal) return;
    auto patch = ReadJsonObject(req, res);
    if (!patch) return;
    DropRedacted(*patch);

    std::lock_guard<std::mutex> lock(ConfigFileMutex());
    auto stored = StoredConfig();
    if (!stored.ok()) return SendError(res, stored.status());
    nlohmann::json file_doc = stored->first;
    file_doc.merge_patch(*patch);
    auto updated = ConfigFromJson(file_doc);
    if (!updated.ok()) return SendError(res, updated.status());
    const std::vector<std::string> changed = ChangedKeys(stored->first, file_doc);
    for (const std::string& key : changed) {
      if (IsFileOnlySetting(key))
        return SendErrorCode(res, 400, key + " can be set only in the config file or the "
                                             "environment, not through the API");
    }
    if (!changed.empty()) {
      const std::string path = ctx_.config->ConfigFilePath();
      if (Status s = WriteFileAtomically(path, file_doc.dump(2) + "\n"); !s.ok())
        return SendError(res, s);
      spdlog::info("http: settings saved by={} keys={}", principal->actor, changed.size());
      Audit(ctx_, principal->actor, "settings", "config", {{"changed", changed}});
    }
    // The server reads its config when it starts, so every change waits for a restart.
    SendJson(res, {{"settings", SettingsJson(*updated)},
                   {"changed", changed},
                   {"restart_required", changed}});
  }

 private:
  // The config file's document and the config it gives over the defaults.
  Result<std::pair<nlohmann::json, Config>> StoredConfig() const {
    ASSIGN_OR_RETURN(nlohmann::json doc, ReadConfigFile(ctx_.config->ConfigFilePath()));
    auto config = ConfigFromJson(doc);
    if (!config.ok())
      return Status::FailedPrecondition(ctx_.config->ConfigFilePath() +
                                        " is invalid: " + config.status().message());
    return std::make_pair(std::move(doc), std::move(*config));
  }

  const ApiContext& ctx_;
};

// ---- handlers ----

void Login(const ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const auto body = ReadJsonObject(req, res);
  if (!body) return;
  const auto name = ReadStringField(*body, "name", res);
  if (!name) return;
  const auto password = ReadStringField(*body, "password", res);
  if (!password) return;
  auto result = ctx.auth->Login(*name, *password, req.remote_addr);
  if (!result.ok()) return SendError(res, result.status());
  switch (result->outcome) {
    case LoginResult::Outcome::kRateLimited:
      res.set_header("Retry-After", std::to_string(result->retry_after_s));
      return SendErrorCode(res, 429, "too many failed logins; try again in " +
                                         std::to_string(result->retry_after_s) + " s");
    case LoginResult::Outcome::kBadCredentials:
      Audit(ctx, "anonymous", "login_failed", "user:" + name->substr(0, 64),
            {{"client", req.remote_addr}});
      return SendErrorCode(res, 401, "wrong user name or password");
    case LoginResult::Outcome::kOk: break;
  }
  const Session& session = result->session;
  Audit(ctx, "user:" + session.user.name, "login", "user:" + session.user.name,
        {{"client", req.remote_addr}});
  res.set_header("Set-Cookie", ctx.auth->SessionCookie(session));
  SendJson(res, {{"user", UserJson(session.user)}, {"csrf_token", session.csrf_token}});
}

void Logout(const ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const auto principal = ctx.auth->Require(req, res, Role::kViewer);
  if (!principal) return;
  if (!principal->session_hash.empty()) {
    if (Status s = ctx.auth->Logout(principal->session_hash); !s.ok()) return SendError(res, s);
    Audit(ctx, principal->actor, "logout", "user:" + principal->user.name);
  }
  res.set_header("Set-Cookie", ctx.auth->ClearedSessionCookie());
  res.set_header("Cache-Control", "no-store");
  res.status = 204;
}

void Me(const ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const auto principal = ctx.auth->Require(req, res, Role::kViewer);
  if (!principal) return;
  SendJson(res, {{"user", UserJson(principal->user)},
                 {"csrf_token", principal->csrf_token.empty()
                                    ? nlohmann::json(nullptr)
                                    : nlohmann::json(principal->csrf_token)},
                 {"actor", principal->actor}});
}

void ListUsers(const ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  if (!ctx.auth->Require(req, res, Role::kAdmin)) return;
  auto users = ctx.auth->ListUsers();
  if (!users.ok()) return SendError(res, users.status());
  nlohmann::json items = nlohmann::json::array();
  for (const auto& user : *users) {
    nlohmann::json item = UserJson(user);
    item["created"] = TimeJson(user.created_ms);
    item["created_ms"] = user.created_ms;
    items.push_back(std::move(item));
  }
  SendJson(res, PageJson(std::move(items), ""));
}

void AddUser(const ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const auto principal = ctx.auth->Require(req, res, Role::kAdmin);
  if (!principal) return;
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
  auto user = ctx.auth->AddUser(*name, *password, *role);
  if (!user.ok()) return SendError(res, user.status());
  Audit(ctx, principal->actor, "user_add", "user:" + user->name, {{"role", ToString(*role)}});
  nlohmann::json out = UserJson(*user);
  out["created"] = TimeJson(user->created_ms);
  out["created_ms"] = user->created_ms;
  SendJson(res, out, 201);
}

void RemoveUser(const ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const auto principal = ctx.auth->Require(req, res, Role::kAdmin);
  if (!principal) return;
  const std::string name = req.matches[1].str();
  if (Status s = ctx.auth->RemoveUser(name); !s.ok()) return SendError(res, s);
  Audit(ctx, principal->actor, "user_remove", "user:" + name);
  res.status = 204;
}

void ListTokens(const ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  if (!ctx.auth->Require(req, res, Role::kAdmin)) return;
  auto tokens = ctx.auth->ListTokens();
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

void CreateToken(const ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const auto principal = ctx.auth->Require(req, res, Role::kAdmin);
  if (!principal) return;
  const auto body = ReadJsonObject(req, res);
  if (!body) return;
  const auto name = ReadStringField(*body, "name", res);
  if (!name) return;
  std::string user = principal->user.name;
  if (body->contains("user")) {
    const auto other = ReadStringField(*body, "user", res);
    if (!other) return;
    user = *other;
  }
  auto token = ctx.auth->CreateToken(*name, user);
  if (!token.ok()) return SendError(res, token.status());
  Audit(ctx, principal->actor, "token_create", "token:" + std::to_string(token->id),
        {{"name", token->name}, {"user", user}});
  SendJson(res, {{"id", token->id}, {"name", token->name}, {"user", user}, {"token", token->token}},
           201);
}

void RevokeToken(const ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const auto principal = ctx.auth->Require(req, res, Role::kAdmin);
  if (!principal) return;
  const auto id = ReadPathInt(req, res);
  if (!id) return;
  if (Status s = ctx.auth->RevokeToken(*id); !s.ok()) return SendError(res, s);
  Audit(ctx, principal->actor, "token_revoke", "token:" + std::to_string(*id));
  res.status = 204;
}

void Restart(const ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const auto principal = ctx.auth->Require(req, res, Role::kAdmin);
  if (!principal) return;
  if (!ctx.request_restart)
    return SendErrorCode(res, 503, "this server cannot restart itself; restart its service");
  // Audited first: the entry must be stored before the stop closes the log.
  Audit(ctx, principal->actor, "restart", "server");
  spdlog::info("http: restart requested by={}", principal->actor);
  SendJson(res, {{"restarting", true}}, 202);
  ctx.request_restart();
}

void ListAudit(const ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  if (!ctx.auth->Require(req, res, Role::kAdmin)) return;
  const auto page = ReadPage(req, res);
  if (!page) return;
  if (ctx.audit == nullptr) return SendErrorCode(res, 503, "the audit log is not available");
  auto entries = ctx.audit->List(page->limit, page->cursor);
  if (!entries.ok()) return SendError(res, entries.status());
  nlohmann::json items = nlohmann::json::array();
  for (const auto& e : entries->items)
    items.push_back({{"id", e.id},
                     {"at", FormatIsoUtc(e.at_ms)},
                     {"at_ms", e.at_ms},
                     {"actor", e.actor},
                     {"action", e.action},
                     {"target", e.target},
                     {"detail", e.detail}});
  SendJson(res, PageJson(std::move(items), entries->next_cursor));
}

}  // namespace

void RegisterAuthRoutes(httplib::Server& server, const ApiContext& ctx) {
  using Handler = void (*)(const ApiContext&, const httplib::Request&, httplib::Response&);
  const auto bind = [&ctx](Handler handler) {
    return [&ctx, handler](const httplib::Request& req, httplib::Response& res) {
      handler(ctx, req, res);
    };
  };
  server.Post("/api/v1/login", bind(Login));
  server.Post("/api/v1/logout", bind(Logout));
  server.Get("/api/v1/me", bind(Me));
  server.Get("/api/v1/users", bind(ListUsers));
  server.Post("/api/v1/users", bind(AddUser));
  server.Delete("/api/v1/users/([^/]+)", bind(RemoveUser));
  server.Get("/api/v1/tokens", bind(ListTokens));
  server.Post("/api/v1/tokens", bind(CreateToken));
  server.Delete("/api/v1/tokens/([^/]+)", bind(RevokeToken));
  server.Get("/api/v1/audit", bind(ListAudit));
  server.Post("/api/v1/restart", bind(Restart));

  auto settings = std::make_shared<SettingsRoutes>(ctx);
  server.Get("/api/v1/settings", [settings](const httplib::Request& req, httplib::Response& res) {
    settings->Get(req, res);
  });
  server.Put("/api/v1/settings", [settings](const httplib::Request& req, httplib::Response& res) {
    settings->Put(req, res);
  });
}

}  // namespace concierge
