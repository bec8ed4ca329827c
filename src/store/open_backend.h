// The choice of backend, from database.kind, that every store with a SQLite
// and a PostgreSQL backend makes when it is opened.
#pragma once

#include <memory>
#include <string>

#include "core/config.h"
#include "core/status.h"

namespace concierge {

class Database;

// The backend database.kind names: open_postgres(config.postgres_url) for
// "postgres", new_sqlite(sqlite) for "sqlite" when `sqlite` is given (it must
// outlive the store); else kInvalidArgument.
template <typename Store, typename OpenPostgres, typename NewSqlite>
Result<std::unique_ptr<Store>> OpenBackend(const DatabaseConfig& config, Database* sqlite,
                                           const OpenPostgres& open_postgres,
                                           const NewSqlite& new_sqlite) {
  if (config.kind == "postgres") return open_postgres(config.postgres_url);
  if (config.kind == "sqlite" && sqlite != nullptr)
    return std::unique_ptr<Store>(new_sqlite(sqlite));
  return Status::InvalidArgument("database.kind '" + config.kind +
                                 "' is not sqlite (with its database) or postgres");
}

}  // namespace concierge
