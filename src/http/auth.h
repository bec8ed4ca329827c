// Who may use the HTTP API: users (admin or viewer) with libsodium
// crypto_pwhash_str passwords, browser sessions (cookie `concierge_session`
// plus a per-session CSRF token) and API tokens for scripts. Session ids and
// tokens are random 256-bit values stored only as sha256, so a copy of the
// database lets nobody in.
//
// Users, sessions and tokens live in an AccountStore, so with PostgreSQL a
// login or token works on every server and a logout or revocation stops it
// everywhere. The login rate limit counts failed logins in the store too, so
// it holds across servers (two servers checking at the same moment may each
// let one more attempt through).
//
// Thread safety: every method may be called from any thread (the store is
// thread-safe).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <httplib.h>

#include "core/config.h"
#include "core/status.h"
#include "store/account_store.h"

namespace concierge {

inline constexpr const char* kSessionCookie = "concierge_session";
inline constexpr const char* kCsrfHeader = "X-CSRF-Token";

// An authenticated caller of one request.
struct Principal {
  User user;
  std::string actor;         // "user:<name>" or "token:<id>", for the audit log
  std::string session_hash;  // sha256 of the session id; empty for token calls
  std::string csrf_token;    // the session's CSRF token; empty for token calls
  int64_t token_id = 0;      // the API token's id; 0 for session calls
};

// A new browser session; `session_id` goes only into the cookie.
struct Session {
  User user;
  std::string session_id;
  std::string csrf_token;
  int64_t expires_ms = 0;
};

struct LoginResult {
  enum class Outcome { kOk, kBadCredentials, kRateLimited };
  Outcome outcome = Outcome::kBadCredentials;
  Session session;          // set when kOk
  int retry_after_s = 0;    // set when kRateLimited
};


// A token just created; `token` is shown once and never stored.
struct NewApiToken {
  int64_t id = 0;
  std::string name;
  std::string token;
};

class Authenticator {
 public:
  // Needs `accounts` to outlive this object. `secure_cookies` adds the Secure
  // attribute (set it when the server speaks TLS).
  Authenticator(AccountStore* accounts, AuthConfig config, bool secure_cookies = false);

  // Needs a name of 1..64 of [A-Za-z0-9._@-] and a password of 8..1024 bytes.
  // AlreadyExists when the name is taken.
  Result<User> AddUser(const std::string& name, const std::string& password, Role role);
  // Removes the user with their sessions and tokens. NotFound for an unknown
  // name; FailedPrecondition when it would remove the last admin.
  Status RemoveUser(const std::string& name);
  Result<std::vector<User>> ListUsers() const;

  // Checks the password, rate-limited per name and per client address:
  // after auth.login_max_failures failures within auth.login_window_s every
  // attempt is refused (kRateLimited) until the window passes. Unknown names
  // cost the same password check as known ones.
  Result<LoginResult> Login(const std::string& name, const std::string& password,
                            const std::string& client_address);
  // Ends the session with this hash (from Principal); OK if it is already gone.
  Status Logout(const std::string& session_hash);

  // Creates an API token for `user`, valid until revoked. NotFound for an unknown user.
  Result<NewApiToken> CreateToken(const std::string& name, const std::string& user);
  // Every token, newest first, revoked ones included.
  Result<std::vector<ApiToken>> ListTokens() const;
  // Revokes a token; NotFound when no such (unrevoked) token exists.
  Status RevokeToken(int64_t id);

  // Authenticates `req` by `Authorization: Bearer <token>` or the session
  // cookie (then POST/PUT/PATCH/DELETE need the X-CSRF-Token header) and
  // checks that the caller has at least `role`. Otherwise writes the 401
  // (unauthenticated) or 403 (CSRF, role) JSON error and returns nullopt.
  std::optional<Principal> Require(const httplib::Request& req, httplib::Response& res,
                                   Role role) const;

  // For GET /metrics: true when the request carries `Authorization: Bearer
  // <auth.metrics_token>` (if one is configured) or passes Require(kViewer);
  // otherwise writes the 401/403 and returns false.
  bool RequireMetricsReader(const httplib::Request& req, httplib::Response& res) const;

  // Whether the session or token behind `principal` (from Require) still
  // lets it in: false once the session ended (logout, expiry, user removed)
  // or the token was revoked. Long requests (event streams) ask again.
  Result<bool> StillValid(const Principal& principal) const;

  // Set-Cookie value carrying `session` (HttpOnly, SameSite=Strict, Path=/,
  // Max-Age of the session, Secure with TLS).
  std::string SessionCookie(const Session& session) const;
  // Set-Cookie value that deletes the session cookie.
  std::string ClearedSessionCookie() const;

 private:
  // Seconds until every one of `keys` may try to log in again; 0 when allowed now.
  Result<int> LoginRetryAfter(const std::vector<std::string>& keys, int64_t now_ms) const;

  // The principal for a session id or token, or nullopt (expired, revoked, unknown).
  Result<std::optional<Principal>> FromSession(const std::string& session_id) const;
  Result<std::optional<Principal>> FromToken(const std::string& token) const;

  AccountStore* const accounts_;
  const AuthConfig config_;
  const bool secure_cookies_;
};

}  // namespace concierge
