#include "http/auth.h"

#include <algorithm>
#include <cctype>

#include <sodium.h>
#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/hash.h"
#include "http/api_support.h"

namespace concierge {

namespace {

constexpr size_t kMaxNameChars = 64;
constexpr size_t kMinPasswordBytes = 8;
constexpr size_t kMaxPasswordBytes = 1024;
constexpr size_t kSecretBytes = 32;  // session ids, tokens and CSRF tokens
constexpr const char* kTokenPrefix = "cct_";
constexpr int64_t kTokenUseResolutionMs = 60'000;  // last_used_ms is updated at most this often

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

Authenticator::Authenticator(AccountStore* accounts, AuthConfig config, bool secure_cookies)
    : accounts_(accounts), config_(config), secure_cookies_(secure_cookies) {
  if (sodium_init() < 0) spdlog::critical("auth: libsodium failed to initialise");
}

Result<User> Authenticator::AddUser(const std::string& name, const std::string& password,
                                    Role role) {
  RETURN_IF_ERROR(ValidateUserName(name));
  if (password.size() < kMinPasswordBytes || password.size() > kMaxPasswordBytes)
    return Status::InvalidArgument("password must be 8 to 1024 bytes long");
  ASSIGN_OR_RETURN(const std::string hash, HashPassword(password));
  return accounts_->AddUser(User{0, name, role, NowMs()}, hash);
}

Status Authenticator::RemoveUser(const std::string& name) { return accounts_->RemoveUser(name); }

Result<std::vector<User>> Authenticator::ListUsers() const { return accounts_->ListUsers(); }

Result<LoginResult> Authenticator::Login(const std::string& name, const std::string& password,
                                         const std::string& client_address) {
  const int64_t now = NowMs();
  const std::string name_key = "name:" + name.substr(0, kMaxNameChars);
  const std::vector<std::string> keys = {name_key, "addr:" + client_address};
  LoginResult result;
  ASSIGN_OR_RETURN(const int wait, LoginRetryAfter(keys, now));
  if (wait > 0) {
    result.outcome = LoginResult::Outcome::kRateLimited;
    result.retry_after_s = wait;
    return result;
  }
  std::optional<UserWithPassword> found;
  if (ValidateUserName(name).ok() && password.size() <= kMaxPasswordBytes) {
    ASSIGN_OR_RETURN(found, accounts_->FindUser(name));
  }
  const bool verified = found ? VerifyPassword(found->password_hash, password)
                              : (VerifyPassword(DummyHash(), password), false);
  if (!verified) {
    RETURN_IF_ERROR(accounts_->RecordLoginFailure(
        keys, now, now - int64_t{config_.login_window_s} * 1000));
    result.outcome = LoginResult::Outcome::kBadCredentials;
    return result;
  }
  RETURN_IF_ERROR(accounts_->ClearLoginFailures(name_key));

  Session& session = result.session;
  session.user = found->user;
  session.session_id = RandomHex(kSecretBytes);
  session.csrf_token = RandomHex(kSecretBytes);
  session.expires_ms = now + int64_t{config_.session_ttl_hours} * 3600 * 1000;
  RETURN_IF_ERROR(accounts_->AddSession(Sha256Hex(session.session_id), session.user.id,
                                        session.csrf_token, now, session.expires_ms));
  result.outcome = LoginResult::Outcome::kOk;
  return result;
}

Status Authenticator::Logout(const std::string& session_hash) {
  return accounts_->DeleteSession(session_hash);
}

Result<NewApiToken> Authenticator::CreateToken(const std::string& name, const std::string& user) {
  if (name.empty() || name.size() > 128)
    return Status::InvalidArgument("token name must be 1-128 characters");
  NewApiToken created{0, name, kTokenPrefix + RandomHex(kSecretBytes)};
  ASSIGN_OR_RETURN(created.id,
                   accounts_->AddToken(user, name, Sha256Hex(created.token), NowMs()));
  return created;
}

Result<std::vector<ApiToken>> Authenticator::ListTokens() const {
  return accounts_->ListTokens();
}

Status Authenticator::RevokeToken(int64_t id) {
  ASSIGN_OR_RETURN(const bool revoked, accounts_->RevokeToken(id, NowMs()));
  if (!revoked) return Status::NotFound("no active API token with id " + std::to_string(id));
  return Status::Ok();
}

Result<std::optional<Principal>> Authenticator::FromSession(const std::string& session_id) const {
  std::optional<Principal> principal;
  if (!IsLowerHex(session_id, kSecretBytes * 2)) return principal;
  const std::string hash = Sha256Hex(session_id);
  ASSIGN_OR_RETURN(const std::optional<SessionOwner> owner, accounts_->FindSession(hash, NowMs()));
  if (owner)
    principal = Principal{owner->user, "user:" + owner->user.name, hash, owner->csrf_token};
  return principal;
}

Result<std::optional<Principal>> Authenticator::FromToken(const std::string& token) const {
  std::optional<Principal> principal;
  const std::string_view prefix = kTokenPrefix;
  if (token.rfind(prefix, 0) != 0 || !IsLowerHex(token.substr(prefix.size()), kSecretBytes * 2))
    return principal;
  ASSIGN_OR_RETURN(const std::optional<TokenOwner> owner,
                   accounts_->FindToken(Sha256Hex(token)));
  if (!owner) return principal;
  principal = Principal{owner->user, "token:" + std::to_string(owner->token_id), "", "",
                        owner->token_id};
  const int64_t now = NowMs();
  if (now - owner->last_used_ms >= kTokenUseResolutionMs) {
    RETURN_IF_ERROR(accounts_->TouchToken(owner->token_id, now));
  }
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
  if (!principal.session_hash.empty())
    return accounts_->SessionValid(principal.session_hash, NowMs());
  return accounts_->TokenValid(principal.token_id);
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

Result<int> Authenticator::LoginRetryAfter(const std::vector<std::string>& keys,
                                           int64_t now_ms) const {
  const int64_t window_ms = int64_t{config_.login_window_s} * 1000;
  const size_t max_failures = static_cast<size_t>(std::max(1, config_.login_max_failures));
  int64_t wait_ms = 0;
  for (const std::string& key : keys) {
    ASSIGN_OR_RETURN(const std::vector<int64_t> failures,
                     accounts_->LoginFailures(key, now_ms - window_ms));
    if (failures.size() < max_failures) continue;
    // Allowed again once the oldest failure that keeps it at the limit leaves the window.
    const int64_t frees_at = failures[failures.size() - max_failures] + window_ms;
    wait_ms = std::max(wait_ms, frees_at - now_ms);
  }
  return wait_ms > 0 ? static_cast<int>((wait_ms + 999) / 1000) : 0;
}

}  // namespace concierge
