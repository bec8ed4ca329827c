// The settings an admin saves through the API (table settings): one JSON
// object of config keys, laid over the config file when a server starts (see
// ApplyStoredSettings in app/stored_settings.h). On PostgreSQL every server
// reads the same document, so a change made on one is the others' at their
// next start. It never holds secrets or file-only settings (core/config.h):
// those stay in each server's config file or environment.
// One interface, a SQLite and a PostgreSQL backend. Thread-safe.
#pragma once

#include <functional>
#include <memory>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/status.h"
#include "store/database.h"

namespace concierge {

class SettingsStore {
 public:
  virtual ~SettingsStore() = default;

  // The saved document; {} when nothing was saved.
  virtual Result<nlohmann::json> Load() = 0;

  // Reads the document, lets `edit` change it and, when edit returns OK and
  // the document is still a JSON object, saves it durably; a failing edit
  // saves nothing and its Status is returned. Updates run one after another,
  // on this server and on every other one on the same database, so none
  // loses another's change. `edit` may run again if the connection was lost
  // before it did anything.
  virtual Status Update(const std::function<Status(nlohmann::json& document)>& edit) = 0;

 protected:
  // The stored text as JSON ({} when unreadable or not an object).
  static nlohmann::json ParseDocument(const std::string& text);
};

// The SQLite backend; needs an open database (migrations applied) that
// outlives it.
std::unique_ptr<SettingsStore> NewSqliteSettingsStore(Database* db);
// The PostgreSQL backend: connects and applies its migrations (component
// "settings"). Errors as OpenPgSightingStore.
Result<std::unique_ptr<SettingsStore>> OpenPgSettingsStore(const std::string& url);
// The backend database.kind names; `sqlite` is used (and needed) for "sqlite".
Result<std::unique_ptr<SettingsStore>> OpenSettingsStore(const DatabaseConfig& config,
                                                         Database* sqlite);

}  // namespace concierge
