// Who may use the HTTP API, as stored: users with their password hashes,
// browser sessions, API tokens, failed logins and the Rekognition API's access
// keys (tables users, sessions, api_tokens, login_failures, aws_access_keys). One interface, a SQLite and a
// PostgreSQL backend; http/Authenticator and store/AccessKeyStore decide what
// they mean. Session ids and tokens arrive here already hashed (sha256) and
// access key secrets sealed: the store never sees a secret.
//
// With PostgreSQL several servers share one store, so a login or a token made
// on one works on every server, and a logout, revocation or removal stops it
// on every server at its next request, and the login rate limit counts the
// failures of every server.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "store/database.h"

namespace concierge {

enum class Role { kViewer, kAdmin };

// "admin" / "viewer".
const char* ToString(Role role);
// Parses "admin" or "viewer"; InvalidArgument otherwise.
Result<Role> ParseRole(std::string_view text);

struct User {
  int64_t id = 0;
  std::string name;
  Role role = Role::kViewer;
  int64_t created_ms = 0;
};

struct ApiToken {
  int64_t id = 0;
  std::string name;
  std::string user;
  int64_t created_ms = 0;
  int64_t last_used_ms = 0;  // 0: never used
  int64_t revoked_ms = 0;    // 0: still valid
};

// A user found by name, with what checks their password.
struct UserWithPassword {
  User user;
  std::string password_hash;  // libsodium crypto_pwhash_str
};

// The user behind an unexpired session.
struct SessionOwner {
  User user;
  std::string csrf_token;
};

// A Rekognition API access key (store/access_keys.h).
struct AccessKey {
  std::string id;            // "AKCC" + 16 characters of [A-Z2-7]
  std::string name;          // a label for people, e.g. "doorman-lambda"
  int64_t created_ms = 0;
  int64_t last_used_ms = 0;  // 0: never used; updated at most once a minute
  int64_t revoked_ms = 0;    // 0: still valid
};

// An unrevoked access key's sealed secret.
struct SealedAccessKey {
  std::string secret_box;  // nonce + ciphertext, bytes
  int64_t last_used_ms = 0;
};

// The user behind an unrevoked token.
struct TokenOwner {
  User user;
  int64_t token_id = 0;
  int64_t last_used_ms = 0;
};

class AccountStore {
 public:
  virtual ~AccountStore() = default;

  // Stores `user` (its id is ignored) and returns it with the id given.
  // kAlreadyExists when the name is taken.
  virtual Result<User> AddUser(const User& user, const std::string& password_hash) = 0;
  // Removes the user with their sessions and tokens, atomically. kNotFound for
  // an unknown name; kFailedPrecondition when it is the last admin (checked
  // in the same transaction, so two servers cannot remove the last two).
  virtual Status RemoveUser(const std::string& name) = 0;
  // Every user, by name.
  virtual Result<std::vector<User>> ListUsers() = 0;
  virtual Result<std::optional<UserWithPassword>> FindUser(const std::string& name) = 0;

  // Stores a session of `user_id` and sweeps the expired ones. kNotFound when
  // the user is gone.
  virtual Status AddSession(const std::string& id_hash, int64_t user_id,
                            const std::string& csrf_token, int64_t now_ms,
                            int64_t expires_ms) = 0;
  // Ends a session; OK if it is already gone.
  virtual Status DeleteSession(const std::string& id_hash) = 0;
  // The owner of a session that expires after now_ms; nullopt otherwise.
  virtual Result<std::optional<SessionOwner>> FindSession(const std::string& id_hash,
                                                          int64_t now_ms) = 0;

  // Stores a token of the user named `user` and returns its id. kNotFound for
  // an unknown user.
  virtual Result<int64_t> AddToken(const std::string& user, const std::string& name,
                                   const std::string& token_hash, int64_t now_ms) = 0;
  // Every token, newest first, revoked ones included.
  virtual Result<std::vector<ApiToken>> ListTokens() = 0;
  // Revokes an unrevoked token; false when there is none with that id.
  virtual Result<bool> RevokeToken(int64_t id, int64_t now_ms) = 0;
  // The owner of an unrevoked token; nullopt otherwise.
  virtual Result<std::optional<TokenOwner>> FindToken(const std::string& token_hash) = 0;
  // Records that a token was used at now_ms.
  virtual Status TouchToken(int64_t id, int64_t now_ms) = 0;

  // Whether a session is still unexpired, or a token still unrevoked.
  virtual Result<bool> SessionValid(const std::string& id_hash, int64_t now_ms) = 0;
  virtual Result<bool> TokenValid(int64_t id) = 0;

  // Failed logins, which the login rate limit counts across servers. Keys
  // are opaque (http/Authenticator uses "name:<n>" and "addr:<a>").
  // Records a failure at now_ms under each key, and forgets every failure at
  // or before forget_up_to_ms.
  virtual Status RecordLoginFailure(const std::vector<std::string>& keys, int64_t now_ms,
                                    int64_t forget_up_to_ms) = 0;
  // The times of the failures under `key` after after_ms, oldest first.
  virtual Result<std::vector<int64_t>> LoginFailures(const std::string& key,
                                                     int64_t after_ms) = 0;
  // Forgets the failures under `key`.
  virtual Status ClearLoginFailures(const std::string& key) = 0;

  // Stores a new access key with its sealed secret. kAlreadyExists for a taken id.
  virtual Status AddAccessKey(const AccessKey& key, const std::string& secret_box) = 0;
  // Every access key, newest first (ties: the later stored first), revoked ones included.
  virtual Result<std::vector<AccessKey>> ListAccessKeys() = 0;
  // Revokes an unrevoked key; false when there is none with that id.
  virtual Result<bool> RevokeAccessKey(const std::string& id, int64_t now_ms) = 0;
  // The sealed secret of an unrevoked key; nullopt otherwise.
  virtual Result<std::optional<SealedAccessKey>> FindAccessKey(const std::string& id) = 0;
  // Records that a key was used at now_ms.
  virtual Status TouchAccessKey(const std::string& id, int64_t now_ms) = 0;
};

// The SQLite backend; needs an open database (migrations applied) that
// outlives it.
std::unique_ptr<AccountStore> NewSqliteAccountStore(Database* db);

// The PostgreSQL backend: connects and applies its migrations (component
// "accounts"), exactly once even when several servers start together. Errors as
// OpenPgSightingStore.
Result<std::unique_ptr<AccountStore>> OpenPgAccountStore(const std::string& url);

// The backend database.kind names; `sqlite` is used (and needed) for "sqlite".
Result<std::unique_ptr<AccountStore>> OpenAccountStore(const DatabaseConfig& config,
                                                       Database* sqlite);

}  // namespace concierge
