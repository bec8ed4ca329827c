#include "store/settings_store.h"

#include "store/open_backend.h"

namespace concierge {

namespace {

class SqliteSettingsStore final : public SettingsStore {
 public:
  explicit SqliteSettingsStore(Database* db) : db_(db) {}

  Result<nlohmann::json> Load() override {
    nlohmann::json document = nlohmann::json::object();
    RETURN_IF_ERROR(db_->ReadTransaction([&](Connection& conn) -> Status {
      ASSIGN_OR_RETURN(document, Read(conn));
      return Status::Ok();
    }));
    return document;
  }

  Status Update(const std::function<Status(nlohmann::json&)>& edit) override {
    // BEGIN IMMEDIATE: the write lock is held from the read to the write.
    return db_->Transaction([&](Connection& conn) -> Status {
      ASSIGN_OR_RETURN(nlohmann::json document, Read(conn));
      RETURN_IF_ERROR(edit(document));
      if (!document.is_object()) return Status::Internal("the settings must stay a JSON object");
      ASSIGN_OR_RETURN(Statement save,
                       conn.Prepare("INSERT INTO settings (id, document) VALUES (1, ?) "
                                    "ON CONFLICT (id) DO UPDATE SET document = excluded.document"));
      return save.BindText(document.dump()).Run();
    });
  }

 private:
  static Result<nlohmann::json> Read(Connection& conn) {
    ASSIGN_OR_RETURN(Statement select, conn.Prepare("SELECT document FROM settings WHERE id = 1"));
    nlohmann::json document = nlohmann::json::object();
    RETURN_IF_ERROR(select.ForEach([&](const Statement& row) {
      document = ParseDocument(row.ColumnText(0));
      return Status::Ok();
    }));
    return document;
  }

  Database* const db_;
};

}  // namespace

nlohmann::json SettingsStore::ParseDocument(const std::string& text) {
  nlohmann::json document = nlohmann::json::parse(text, nullptr, false);
  return document.is_object() ? document : nlohmann::json::object();
}

std::unique_ptr<SettingsStore> NewSqliteSettingsStore(Database* db) {
  return std::make_unique<SqliteSettingsStore>(db);
}

Result<std::unique_ptr<SettingsStore>> OpenSettingsStore(const DatabaseConfig& config,
                                                         Database* sqlite) {
  return OpenBackend<SettingsStore>(config, sqlite, OpenPgSettingsStore, NewSqliteSettingsStore);
}

}  // namespace concierge
