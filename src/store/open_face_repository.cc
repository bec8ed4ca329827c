#include "store/open_face_repository.h"

#include "store/pg_face_repository.h"
#include "store/sqlite_face_repository.h"

namespace concierge {

Result<std::unique_ptr<FaceRepository>> OpenFaceRepository(const DatabaseConfig& config,
                                                           Database* sqlite,
                                                           const std::string& collection) {
  if (config.kind == "postgres") return OpenPgFaceRepository(config.postgres_url, collection);
  if (config.kind != "sqlite")
    return Status::InvalidArgument("database.kind '" + config.kind +
                                   "' is not sqlite or postgres");
  if (sqlite == nullptr) return Status::InvalidArgument("no SQLite database is open");
  return NewSqliteFaceRepository(sqlite, collection);
}

}  // namespace concierge
