// The PostgreSQL backend of the SettingsStore (store/settings_store.h).
#include <string>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

#include "store/pg_client.h"
#include "store/settings_store.h"

namespace concierge {

namespace {

constexpr char kComponent[] = "settings";

// Versioned schema; never edit an entry that has shipped.
const std::vector<const char*> kMigrations = {
    // 1: as the SQLite backend's migration 14.
    R"sql(
CREATE TABLE settings (
  id       INTEGER PRIMARY KEY CHECK (id = 1),
  document TEXT NOT NULL
);
)sql",
};

class PgSettingsStore final : public SettingsStore {
 public:
  explicit PgSettingsStore(std::string conninfo) : client_(std::move(conninfo)) {}

  Status Open() { return client_.Migrate(kComponent, kMigrations); }

  Result<nlohmann::json> Load() override {
    return client_.Run<nlohmann::json>("reading the settings", [](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      const pqxx::result r = tx.exec("SELECT document FROM settings WHERE id = 1");
      return Result<nlohmann::json>(r.empty() ? nlohmann::json::object()
                                              : ParseDocument(r[0][0].c_str()));
    });
  }

  Status Update(const std::function<Status(nlohmann::json&)>& edit) override {
    return client_.Write("saving the settings", [&](pqxx::work& tx) -> Status {
      // The row exists before it is locked, so a first save on two servers at
      // once is serialised too.
      tx.exec("INSERT INTO settings (id, document) VALUES (1, '{}') ON CONFLICT (id) DO NOTHING");
      const pqxx::result r = tx.exec("SELECT document FROM settings WHERE id = 1 FOR UPDATE");
      nlohmann::json document = ParseDocument(r[0][0].c_str());
      RETURN_IF_ERROR(edit(document));
      if (!document.is_object())
        return Status::Internal("the settings must stay a JSON object");
      PgParams().Text(document.dump()).Exec(tx, "UPDATE settings SET document = $1 WHERE id = 1");
      return Status::Ok();
    });
  }

 private:
  PgClient client_;
};

}  // namespace

Result<std::unique_ptr<SettingsStore>> OpenPgSettingsStore(const std::string& url) {
  return OpenPgBackend<SettingsStore, PgSettingsStore>(url);
}

}  // namespace concierge
