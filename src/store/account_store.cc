// The SQLite backend of the AccountStore (store/account_store.h); tables of
// migrations 6, 7 and 15.
#include "store/account_store.h"

#include <utility>

#include "store/open_backend.h"

namespace concierge {

const char* ToString(Role role) { return role == Role::kAdmin ? "admin" : "viewer"; }

Result<Role> ParseRole(std::string_view text) {
  if (text == "admin") return Role::kAdmin;
  if (text == "viewer") return Role::kViewer;
  return Status::InvalidArgument("role must be 'admin' or 'viewer'");
}

namespace {

constexpr char kUserColumns[] = "u.id, u.name, u.role, u.created_ms";

User UserFromRow(const Statement& st) {
  return {st.ColumnInt(0), st.ColumnText(1),
          st.ColumnText(2) == "admin" ? Role::kAdmin : Role::kViewer, st.ColumnInt(3)};
}

class SqliteAccountStore final : public AccountStore {
 public:
  explicit SqliteAccountStore(Database* db) : db_(db) {}

  Result<User> AddUser(const User& user, const std::string& password_hash) override {
    User stored = user;
    Status s = db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st, c.Prepare("INSERT INTO users(name, role, password_hash, "
                                               "created_ms) VALUES(?, ?, ?, ?)"));
      RETURN_IF_ERROR(st.BindText(user.name).BindText(ToString(user.role))
                          .BindText(password_hash).BindInt(user.created_ms).Run());
      stored.id = c.LastInsertId();
      return Status::Ok();
    });
    if (s.code() == Status::Code::kAlreadyExists)
      return Status::AlreadyExists("user '" + user.name + "' already exists");
    RETURN_IF_ERROR(s);
    return stored;
  }

  Status RemoveUser(const std::string& name) override {
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
      // Sessions and tokens go with the user (ON DELETE CASCADE).
      ASSIGN_OR_RETURN(Statement del, c.Prepare("DELETE FROM users WHERE name = ?"));
      return del.BindText(name).Run();
    });
  }

  Result<std::vector<User>> ListUsers() override {
    std::vector<User> users;
    RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st, c.Prepare(std::string("SELECT ") + kUserColumns +
                                               " FROM users u ORDER BY u.name"));
      return st.ForEach([&](const Statement& row) {
        users.push_back(UserFromRow(row));
        return Status::Ok();
      });
    }));
    return users;
  }

  Result<std::optional<UserWithPassword>> FindUser(const std::string& name) override {
    std::optional<UserWithPassword> found;
    RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st, c.Prepare(std::string("SELECT ") + kUserColumns +
                                               ", u.password_hash FROM users u WHERE u.name = ?"));
      ASSIGN_OR_RETURN(const bool has_row, st.BindText(name).Step());
      if (has_row) found = UserWithPassword{UserFromRow(st), st.ColumnText(4)};
      return Status::Ok();
    }));
    return found;
  }

  Status AddSession(const std::string& id_hash, int64_t user_id, const std::string& csrf_token,
                    int64_t now_ms, int64_t expires_ms) override {
    return db_->Transaction([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement sweep, c.Prepare("DELETE FROM sessions WHERE expires_ms <= ?"));
      RETURN_IF_ERROR(sweep.BindInt(now_ms).Run());
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare("INSERT INTO sessions(id_hash, user_id, csrf_token, created_ms, "
                                 "expires_ms) VALUES(?, ?, ?, ?, ?)"));
      return st.BindText(id_hash).BindInt(user_id).BindText(csrf_token).BindInt(now_ms)
          .BindInt(expires_ms).Run();
    });
  }

  Status DeleteSession(const std::string& id_hash) override {
    return db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st, c.Prepare("DELETE FROM sessions WHERE id_hash = ?"));
      return st.BindText(id_hash).Run();
    });
  }

  Result<std::optional<SessionOwner>> FindSession(const std::string& id_hash,
                                                  int64_t now_ms) override {
    std::optional<SessionOwner> owner;
    RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare(std::string("SELECT ") + kUserColumns +
                                 ", s.csrf_token FROM sessions s JOIN users u ON u.id = s.user_id "
                                 "WHERE s.id_hash = ? AND s.expires_ms > ?"));
      ASSIGN_OR_RETURN(const bool has_row, st.BindText(id_hash).BindInt(now_ms).Step());
      if (has_row) owner = SessionOwner{UserFromRow(st), st.ColumnText(4)};
      return Status::Ok();
    }));
    return owner;
  }

  Result<int64_t> AddToken(const std::string& user, const std::string& name,
                           const std::string& token_hash, int64_t now_ms) override {
    int64_t id = 0;
    RETURN_IF_ERROR(db_->Transaction([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement find, c.Prepare("SELECT id FROM users WHERE name = ?"));
      ASSIGN_OR_RETURN(const bool found, find.BindText(user).Step());
      if (!found) return Status::NotFound("no user named '" + user + "'");
      ASSIGN_OR_RETURN(Statement st, c.Prepare("INSERT INTO api_tokens(user_id, name, token_hash, "
                                               "created_ms) VALUES(?, ?, ?, ?)"));
      RETURN_IF_ERROR(
          st.BindInt(find.ColumnInt(0)).BindText(name).BindText(token_hash).BindInt(now_ms).Run());
      id = c.LastInsertId();
      return Status::Ok();
    }));
    return id;
  }

  Result<std::vector<ApiToken>> ListTokens() override {
    std::vector<ApiToken> tokens;
    RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare("SELECT t.id, t.name, u.name, t.created_ms, t.last_used_ms, "
                                 "t.revoked_ms FROM api_tokens t JOIN users u ON u.id = t.user_id "
                                 "ORDER BY t.id DESC"));
      return st.ForEach([&](const Statement& row) {
        tokens.push_back({row.ColumnInt(0), row.ColumnText(1), row.ColumnText(2),
                          row.ColumnInt(3), row.ColumnInt(4), row.ColumnInt(5)});
        return Status::Ok();
      });
    }));
    return tokens;
  }

  Result<bool> RevokeToken(int64_t id, int64_t now_ms) override {
    int64_t changed = 0;
    RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st, c.Prepare("UPDATE api_tokens SET revoked_ms = ? "
                                               "WHERE id = ? AND revoked_ms = 0"));
      RETURN_IF_ERROR(st.BindInt(now_ms).BindInt(id).Run());
      changed = c.Changes();
      return Status::Ok();
    }));
    return changed > 0;
  }

  Result<std::optional<TokenOwner>> FindToken(const std::string& token_hash) override {
    std::optional<TokenOwner> owner;
    RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare(std::string("SELECT ") + kUserColumns +
                                 ", t.id, t.last_used_ms FROM api_tokens t "
                                 "JOIN users u ON u.id = t.user_id "
                                 "WHERE t.token_hash = ? AND t.revoked_ms = 0"));
      ASSIGN_OR_RETURN(const bool has_row, st.BindText(token_hash).Step());
      if (has_row) owner = TokenOwner{UserFromRow(st), st.ColumnInt(4), st.ColumnInt(5)};
      return Status::Ok();
    }));
    return owner;
  }

  Status TouchToken(int64_t id, int64_t now_ms) override {
    return db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare("UPDATE api_tokens SET last_used_ms = ? WHERE id = ?"));
      return st.BindInt(now_ms).BindInt(id).Run();
    });
  }

  Result<bool> SessionValid(const std::string& id_hash, int64_t now_ms) override {
    bool valid = false;
    RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st, c.Prepare("SELECT 1 FROM sessions WHERE id_hash = ? AND "
                                               "expires_ms > ?"));
      ASSIGN_OR_RETURN(valid, st.BindText(id_hash).BindInt(now_ms).Step());
      return Status::Ok();
    }));
    return valid;
  }

  Status AddAccessKey(const AccessKey& key, const std::string& secret_box) override {
    return db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st, c.Prepare("INSERT INTO aws_access_keys(id, name, secret_box, "
                                               "created_ms) VALUES(?, ?, ?, ?)"));
      return st.BindText(key.id).BindText(key.name).BindBlob(secret_box.data(), secret_box.size())
          .BindInt(key.created_ms).Run();
    });
  }

  Result<std::vector<AccessKey>> ListAccessKeys() override {
    std::vector<AccessKey> keys;
    RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare("SELECT id, name, created_ms, last_used_ms, revoked_ms FROM "
                                 "aws_access_keys ORDER BY created_ms DESC, rowid DESC"));
      return st.ForEach([&](const Statement& row) {
        keys.push_back(AccessKey{row.ColumnText(0), row.ColumnText(1), row.ColumnInt(2),
                                 row.ColumnInt(3), row.ColumnInt(4)});
        return Status::Ok();
      });
    }));
    return keys;
  }

  Result<bool> RevokeAccessKey(const std::string& id, int64_t now_ms) override {
    int64_t changed = 0;
    RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st, c.Prepare("UPDATE aws_access_keys SET revoked_ms = ? WHERE "
                                               "id = ? AND revoked_ms = 0"));
      RETURN_IF_ERROR(st.BindInt(now_ms).BindText(id).Run());
      changed = c.Changes();
      return Status::Ok();
    }));
    return changed > 0;
  }

  Result<std::optional<SealedAccessKey>> FindAccessKey(const std::string& id) override {
    std::optional<SealedAccessKey> found;
    RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st, c.Prepare("SELECT secret_box, last_used_ms FROM "
                                               "aws_access_keys WHERE id = ? AND revoked_ms = 0"));
      ASSIGN_OR_RETURN(const bool has_row, st.BindText(id).Step());
      if (has_row) found = SealedAccessKey{std::string(st.ColumnBlob(0)), st.ColumnInt(1)};
      return Status::Ok();
    }));
    return found;
  }

  Status TouchAccessKey(const std::string& id, int64_t now_ms) override {
    return db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare("UPDATE aws_access_keys SET last_used_ms = ? WHERE id = ?"));
      return st.BindInt(now_ms).BindText(id).Run();
    });
  }

  Status RecordLoginFailure(const std::vector<std::string>& keys, int64_t now_ms,
                            int64_t forget_up_to_ms) override {
    return db_->Transaction([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement sweep, c.Prepare("DELETE FROM login_failures WHERE at_ms <= ?"));
      RETURN_IF_ERROR(sweep.BindInt(forget_up_to_ms).Run());
      for (const std::string& key : keys) {
        ASSIGN_OR_RETURN(Statement st,
                         c.Prepare("INSERT INTO login_failures(key, at_ms) VALUES(?, ?)"));
        RETURN_IF_ERROR(st.BindText(key).BindInt(now_ms).Run());
      }
      return Status::Ok();
    });
  }

  Result<std::vector<int64_t>> LoginFailures(const std::string& key, int64_t after_ms) override {
    std::vector<int64_t> times;
    RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st, c.Prepare("SELECT at_ms FROM login_failures "
                                               "WHERE key = ? AND at_ms > ? ORDER BY at_ms"));
      return st.BindText(key).BindInt(after_ms).ForEach([&](const Statement& row) {
        times.push_back(row.ColumnInt(0));
        return Status::Ok();
      });
    }));
    return times;
  }

  Status ClearLoginFailures(const std::string& key) override {
    return db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st, c.Prepare("DELETE FROM login_failures WHERE key = ?"));
      return st.BindText(key).Run();
    });
  }

  Result<bool> TokenValid(int64_t id) override {
    bool valid = false;
    RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare("SELECT 1 FROM api_tokens WHERE id = ? AND revoked_ms = 0"));
      ASSIGN_OR_RETURN(valid, st.BindInt(id).Step());
      return Status::Ok();
    }));
    return valid;
  }

 private:
  Database* const db_;
};

}  // namespace

std::unique_ptr<AccountStore> NewSqliteAccountStore(Database* db) {
  return std::make_unique<SqliteAccountStore>(db);
}

Result<std::unique_ptr<AccountStore>> OpenAccountStore(const DatabaseConfig& config,
                                                       Database* sqlite) {
  return OpenBackend<AccountStore>(config, sqlite, OpenPgAccountStore, NewSqliteAccountStore);
}

}  // namespace concierge
