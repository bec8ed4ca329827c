#include "http/auth.h"

#include <algorithm>
#include <cctype>

#include <sodium.h>
#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/hash.h"
#include "http/api_support.h"
#include "store/database.h"

namespace concierge {

namespace {

constexpr size_t kMaxNameChars = 64;
constexpr size_t kMinPasswordBytes = 8;
constexpr size_t kMaxPasswordBytes = 1024;
constexpr size_t kSecretBytes = 32;  // session ids, tokens and CSRF tokens
constexpr const char* kTokenPrefix = "cct_";
constexpr int64_t kTokenUseResolutionMs = 60'000;  // last_used_ms is updated at most this often
constexpr size_t kLimiterPruneAbove = 10'000;      // keys kept before stale ones are swept

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  std::string hex(bytes * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(raw.data()),
                 raw.size());
  hex.pop_back();
  return hex;
}

bool IsLowerHex(std::string_view s, size_t length) {
  return s.size() == length && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
         });
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

Status ValidateUserName(const std::string& name) {
  const bool ok = !name.empty() && name.size() <= kMaxNameChars &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                           c == '@' || c == '-';
                  });
  if (!ok)
    return Status::InvalidArgument("user name must be 1-64 characters of letters, digits and ._@-");
  return Status::Ok();
}

Result<std::string> HashPassword(const std::string& password) {
  char hash[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(hash, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
    return Status::Internal("crypto_pwhash_str ran out of memory");
  return std::string(hash);
}

bool VerifyPassword(const std::string& hash, const std::string& password) {
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

// A valid hash of a random password: checking it costs what a real check
// costs, so response times do not tell which user names exist.
const std::string& DummyHash() {
  static const std::string hash = [] {
    auto h = HashPassword(RandomHex(kSecretBytes));
    return h.ok() ? *h : std::string();
  }();
  return hash;
}

User UserFromRow(const Statement& st, int first) {
  User u;
  u.id = st.ColumnInt(first);
  u.name = st.ColumnText(first + 1);
  u.role = st.ColumnText(first + 2) == "admin" ? Role::kAdmin : Role::kViewer;
  u.created_ms = st.ColumnInt(first + 3);
  return u;
}

// The value of cookie `name` in the request's Cookie header, or "".
std::string CookieValue(const httplib::Request& req, std::string_view name) {
  const std::string header = req.get_header_value("Cookie");
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find(';', pos);
    if (end == std::string::npos) end = header.size();
    std::string_view part(header.data() + pos, end - pos);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    const size_t eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == name)
      return std::string(part.substr(eq + 1));
    pos = end + 1;
  }
  return "";
}

bool IsUnsafeMethod(const std::string& method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

}  // namespace

const char* ToString(Role role) { return role == Role::kAdmin ? "admin" : "viewer"; }

Result<Role> ParseRole(std::string_view text) {
  if (text == "admin") return Role::kAdmin;
  if (text == "viewer") return Role::kViewer;
  return Status::InvalidArgument("role must be 'admin' or 'viewer'");
}

Authenticator::Authenticator(Database* db, AuthConfig config, bool secure_cookies)
    : db_(db), config_(config), secure_cookies_(secure_cookies), limiter_(config_) {
  if (sodium_init() < 0) spdlog::critical("auth: libsodium failed to initialise");
}

Result<User> Authenticator::AddUser(const std::string& name, const std::string& password,
                                    Role role) {
  RETURN_IF_ERROR(ValidateUserName(name));
  if (password.size() < kMinPasswordBytes || password.size() > kMaxPasswordBytes)
    return Status::InvalidArgument("password must be 8 to 1024 bytes long");
  ASSIGN_OR_RETURN(const std::string hash, HashPassword(password));
  User user{0, name, role, NowMs()};
  Status s = db_->WithConnection([&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement st, c.Prepare("INSERT INTO users(name, role, password_hash, "
                                             "created_ms) VALUES(?, ?, ?, ?)"));
    RETURN_IF_ERROR(st.BindText(name).BindText(ToString(role)).BindText(hash)
                        .BindInt(user.created_ms).Run());
    user.id = c.LastInsertId();
    return Status::Ok();
  });
  if (s.code() == Status::Code::kAlreadyExists)
    return Status::AlreadyExists("user '" + name + "' already exists");
  RETURN_IF_ERROR(s);
  return user;
}

Status Authenticator::RemoveUser(const std::string& name) {
  return db_->Transaction([&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement find, c.Prepare("SELECT role FROM users WHERE name = ?"));
    ASSIGN_OR_RETURN(const bool found, find.BindText(name).Step());
    if (!found) return Status::NotFound("no user named '" + name + "'");
    if (find.ColumnText(0) == "admin") {
      ASSIGN_OR_RETURN(Statement count,
                       c.Prepare("SELECT COUNT(*) FROM users WHERE role = 'admin'"));
      ASSIGN_OR_RETURN(const bool has_row, count.Step());
      if (has_row && count.ColumnInt(0) <= 1)
        return Status::FailedPrecondition("'" + name + "' is the last admin; add another first");
    }
    ASSIGN_OR_RETURN(Statement del, c.Prepare("DELETE FROM users WHERE name = ?"));
    return del.BindText(name).Run();
  });
}

Result<std::vector<User>> Authenticator::ListUsers() const {
  std::vector<User> users;
  RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement st,
                     c.Prepare("SELECT id, name, role, created_ms FROM users ORDER BY name"));
    return st.ForEach([&](const Statement& row) {
      users.push_back(UserFromRow(row, 0));
      return Status::Ok();
    });
  }));
  return users;
}

Result<std::optional<std::pair<User, std::string>>> Authenticator::FindUserWithHash(
    const std::string& name) const {
  std::optional<std::pair<User, std::string>> found;
  RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement st, c.Prepare("SELECT id, name, role, created_ms, password_hash "
                                             "FROM users WHERE name = ?"));
    ASSIGN_OR_RETURN(const bool has_row, st.BindText(name).Step());
    if (has_row) found.emplace(UserFromRow(st, 0), st.ColumnText(4));
    return Status::Ok();
  }));
  return found;
}

Result<LoginResult> Authenticator::Login(const std::string& name, const std::string& password,
                                         const std::string& client_address) {
  const int64_t now = NowMs();
  const std::string name_key = "name:" + name.substr(0, kMaxNameChars);
  const std::vector<std::string> keys = {name_key, "addr:" + client_address};
  LoginResult result;
  if (const int wait = limiter_.RetryAfter(keys, now); wait > 0) {
    result.outcome = LoginResult::Outcome::kRateLimited;
    result.retry_after_s = wait;
    return result;
  }
  std::optional<std::pair<User, std::string>> found;
  if (ValidateUserName(name).ok() && password.size() <= kMaxPasswordBytes) {
    ASSIGN_OR_RETURN(found, FindUserWithHash(name));
  }
  const bool verified = found ? VerifyPassword(found->second, password)
                              : (VerifyPassword(DummyHash(), password), false);
  if (!verified) {
    limiter_.RecordFailure(keys, now);
    result.outcome = LoginResult::Outcome::kBadCredentials;
    return result;
  }
  limiter_.Clear(name_key);

  Session& session = result.session;
  session.user = found->first;
  session.session_id = RandomHex(kSecretBytes);
  session.csrf_token = RandomHex(kSecretBytes);
  session.expires_ms = now + int64_t{config_.session_ttl_hours} * 3600 * 1000;
  RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement sweep, c.Prepare("DELETE FROM sessions WHERE expires_ms <= ?"));
    RETURN_IF_ERROR(sweep.BindInt(now).Run());
    ASSIGN_OR_RETURN(Statement st, c.Prepare("INSERT INTO sessions(id_hash, user_id, csrf_token, "
                                             "created_ms, expires_ms) VALUES(?, ?, ?, ?, ?)"));
    return st.BindText(Sha256Hex(session.session_id)).BindInt(session.user.id)
        .BindText(session.csrf_token).BindInt(now).BindInt(session.expires_ms).Run();
  }));
  result.outcome = LoginResult::Outcome::kOk;
  return result;
}

Status Authenticator::Logout(const std::string& session_hash) {
  return db_->WithConnection([&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement st, c.Prepare("DELETE FROM sessions WHERE id_hash = ?"));
    return st.BindText(session_hash).Run();
  });
}

Result<NewApiToken> Authenticator::CreateToken(const std::string& name, const std::string& user) {
  if (name.empty() || name.size() > 128)
    return Status::InvalidArgument("token name must be 1-128 characters");
  NewApiToken created{0, name, kTokenPrefix + RandomHex(kSecretBytes)};
  RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement find, c.Prepare("SELECT id FROM users WHERE name = ?"));
    ASSIGN_OR_RETURN(const bool found, find.BindText(user).Step());
    if (!found) return Status::NotFound("no user named '" + user + "'");
    const int64_t user_id = find.ColumnInt(0);
    ASSIGN_OR_RETURN(Statement st, c.Prepare("INSERT INTO api_tokens(user_id, name, token_hash, "
                                             "created_ms) VALUES(?, ?, ?, ?)"));
    RETURN_IF_ERROR(
        st.BindInt(user_id).BindText(name).BindText(Sha256Hex(created.token)).BindInt(NowMs())
            .Run());
    created.id = c.LastInsertId();
    return Status::Ok();
  }));
  return created;
}

Result<std::vector<ApiToken>> Authenticator::ListTokens() const {
  std::vector<ApiToken> tokens;
  RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement st,
                     c.Prepare("SELECT t.id, t.name, u.name, t.created_ms, t.last_used_ms, "
                               "t.revoked_ms FROM api_tokens t JOIN users u ON u.id = t.user_id "
                               "ORDER BY t.id DESC"));
    return st.ForEach([&](const Statement& row) {
      tokens.push_back({row.ColumnInt(0), row.ColumnText(1), row.ColumnText(2), row.ColumnInt(3),
                        row.ColumnInt(4), row.ColumnInt(5)});
      return Status::Ok();
    });
  }));
  return tokens;
}

Status Authenticator::RevokeToken(int64_t id) {
  int64_t changed = 0;
  RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement st, c.Prepare("UPDATE api_tokens SET revoked_ms = ? "
                                             "WHERE id = ? AND revoked_ms = 0"));
    RETURN_IF_ERROR(st.BindInt(NowMs()).BindInt(id).Run());
    changed = c.Changes();
    return Status::Ok();
  }));
  if (changed == 0) return Status::NotFound("no active API token with id " + std::to_string(id));
  return Status::Ok();
}

Result<std::optional<Principal>> Authenticator::FromSession(const std::string& session_id) const {
  std::optional<Principal> principal;
  if (!IsLowerHex(session_id, kSecretBytes * 2)) return principal;
  const std::string hash = Sha256Hex(session_id);
  RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement st,
                     c.Prepare("SELECT u.id, u.name, u.role, u.created_ms, s.csrf_token "
                               "FROM sessions s JOIN users u ON u.id = s.user_id "
                               "WHERE s.id_hash = ? AND s.expires_ms > ?"));
    ASSIGN_OR_RETURN(const bool has_row, st.BindText(hash).BindInt(NowMs()).Step());
    if (has_row) {
      User user = UserFromRow(st, 0);
      principal = Principal{user, "user:" + user.name, hash, st.ColumnText(4)};
    }
    return Status::Ok();
  }));
  return principal;
}

Result<std::optional<Principal>> Authenticator::FromToken(const std::string& token) const {
  std::optional<Principal> principal;
  const std::string_view prefix = kTokenPrefix;
  if (token.rfind(prefix, 0) != 0 || !IsLowerHex(token.substr(prefix.size()), kSecretBytes * 2))
    return principal;
  const int64_t now = NowMs();
  RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement st,
                     c.Prepare("SELECT u.id, u.name, u.role, u.created_ms, t.id, t.last_used_ms "
                               "FROM api_tokens t JOIN users u ON u.id = t.user_id "
                               "WHERE t.token_hash = ? AND t.revoked_ms = 0"));
    ASSIGN_OR_RETURN(const bool has_row, st.BindText(Sha256Hex(token)).Step());
    if (!has_row) return Status::Ok();
    const int64_t token_id = st.ColumnInt(4);
    principal =
        Principal{UserFromRow(st, 0), "token:" + std::to_string(token_id), "", "", token_id};
    if (now - st.ColumnInt(5) < kTokenUseResolutionMs) return Status::Ok();
    ASSIGN_OR_RETURN(Statement used,
                     c.Prepare("UPDATE api_tokens SET last_used_ms = ? WHERE id = ?"));
    return used.BindInt(now).BindInt(token_id).Run();
  }));
  return principal;
}

bool Authenticator::RequireMetricsReader(const httplib::Request& req,
                                         httplib::Response& res) const {
  if (!config_.metrics_token.empty() &&
      ConstantTimeEqual(req.get_header_value("Authorization"), "Bearer " + config_.metrics_token))
    return true;
  return Require(req, res, Role::kViewer).has_value();
}

Result<bool> Authenticator::StillValid(const Principal& principal) const {
  bool valid = false;
  RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
    const bool by_session = !principal.session_hash.empty();
    ASSIGN_OR_RETURN(Statement st,
                     c.Prepare(by_session
                                   ? "SELECT 1 FROM sessions WHERE id_hash = ? AND expires_ms > ?"
                                   : "SELECT 1 FROM api_tokens WHERE id = ? AND revoked_ms = 0"));
    if (by_session) st.BindText(principal.session_hash).BindInt(NowMs());
    else st.BindInt(principal.token_id);
    ASSIGN_OR_RETURN(valid, st.Step());
    return Status::Ok();
  }));
  return valid;
}

std::optional<Principal> Authenticator::Require(const httplib::Request& req,
                                                httplib::Response& res, Role role) const {
  const std::string authorization = req.get_header_value("Authorization");
  const bool by_token = !authorization.empty();
  Result<std::optional<Principal>> found = std::optional<Principal>();
  if (by_token) {
    if (authorization.rfind("Bearer ", 0) != 0) {
      SendErrorCode(res, 401, "Authorization header must be 'Bearer <api token>'");
      return std::nullopt;
    }
    found = FromToken(authorization.substr(7));
  } else {
    const std::string session_id = CookieValue(req, kSessionCookie);
    if (session_id.empty()) {
      SendErrorCode(res, 401, "log in or send an API token");
      return std::nullopt;
    }
    found = FromSession(session_id);
  }
  if (!found.ok()) {
    SendError(res, found.status());
    return std::nullopt;
  }
  std::optional<Principal> principal = std::move(*found);
  if (!principal) {
    SendErrorCode(res, 401, by_token ? "API token is unknown or revoked"
                                     : "session expired or unknown; log in again");
    return std::nullopt;
  }
  if (!by_token && IsUnsafeMethod(req.method) &&
      !ConstantTimeEqual(req.get_header_value(kCsrfHeader), principal->csrf_token)) {
    SendErrorCode(res, 403, std::string("missing or wrong ") + kCsrfHeader + " header");
    return std::nullopt;
  }
  if (role == Role::kAdmin && principal->user.role != Role::kAdmin) {
    SendErrorCode(res, 403, "this needs the admin role");
    return std::nullopt;
  }
  return principal;
}

std::string Authenticator::SessionCookie(const Session& session) const {
  const int64_t max_age_s = std::max<int64_t>(0, (session.expires_ms - NowMs()) / 1000);
  return std::string(kSessionCookie) + "=" + session.session_id +
         "; Path=/; Max-Age=" + std::to_string(max_age_s) + "; HttpOnly; SameSite=Strict" +
         (secure_cookies_ ? "; Secure" : "");
}

std::string Authenticator::ClearedSessionCookie() const {
  return std::string(kSessionCookie) + "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict" +
         (secure_cookies_ ? "; Secure" : "");
}

// ---- LoginLimiter ----

void Authenticator::LoginLimiter::Prune(std::deque<int64_t>& failures, int64_t now_ms) const {
  const int64_t window_ms = int64_t{config_.login_window_s} * 1000;
  while (!failures.empty() && failures.front() <= now_ms - window_ms) failures.pop_front();
}

int Authenticator::LoginLimiter::RetryAfter(const std::vector<std::string>& keys,
                                            int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t wait_ms = 0;
  const size_t max_failures = static_cast<size_t>(std::max(1, config_.login_max_failures));
  for (const auto& key : keys) {
    auto it = failures_.find(key);
    if (it == failures_.end()) continue;
    Prune(it->second, now_ms);
    if (it->second.size() < max_failures) continue;
    // Allowed again once the oldest failure that keeps it at the limit leaves the window.
    const int64_t frees_at = it->second[it->second.size() - max_failures] +
                             int64_t{config_.login_window_s} * 1000;
    wait_ms = std::max(wait_ms, frees_at - now_ms);
  }
  return wait_ms > 0 ? static_cast<int>((wait_ms + 999) / 1000) : 0;
}

void Authenticator::LoginLimiter::RecordFailure(const std::vector<std::string>& keys,
                                                int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  if (failures_.size() > kLimiterPruneAbove) {
    for (auto it = failures_.begin(); it != failures_.end();) {
      Prune(it->second, now_ms);
      it = it->second.empty() ? failures_.erase(it) : std::next(it);
    }
  }
  for (const auto& key : keys) failures_[key].push_back(now_ms);
}

void Authenticator::LoginLimiter::Clear(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  failures_.erase(key);
}

}  // namespace concierge
