#include "cli/services.h"

#include <utility>

#include "store/open_face_repository.h"
#include "store/pg_sighting_store.h"
#include "store/sqlite_sighting_store.h"

namespace concierge::cli {

Result<Database*> Services::database() {
  if (!db_) {
    ASSIGN_OR_RETURN(db_, Database::OpenSqlite(config_.DatabasePath(),
                                               config_.database.busy_timeout_ms));
  }
  return db_.get();
}

Result<std::unique_ptr<FaceRepository>> Services::OpenFaceRepository() {
  Database* sqlite = nullptr;
  if (config_.database.kind == "sqlite") {
    ASSIGN_OR_RETURN(sqlite, database());
  }
  return concierge::OpenFaceRepository(config_.database, sqlite, config_.recognition.collection);
}

Result<FaceCollection*> Services::faces() {
  if (!faces_) {
    ASSIGN_OR_RETURN(std::unique_ptr<FaceRepository> repository, OpenFaceRepository());
    // The manifest alone names the models; no need to load the nets.
    ASSIGN_OR_RETURN(ModelPack pack, LoadModelPack(config_.vision.models_dir));
    ASSIGN_OR_RETURN(faces_,
                     FaceCollection::Open(std::move(repository), SpacesOf(pack.embedders)));
  }
  return faces_.get();
}

Result<SightingStore*> Services::sightings() {
  if (!sightings_) {
    const DatabaseConfig& db_config = config_.database;
    if (db_config.kind == "postgres") {
      ASSIGN_OR_RETURN(sightings_, OpenPgSightingStore(db_config.postgres_url));
    } else if (db_config.kind == "sqlite") {
      ASSIGN_OR_RETURN(Database * db, database());
      sightings_ = NewSqliteSightingStore(db);
    } else {
      return Status::InvalidArgument("database.kind '" + db_config.kind +
                                     "' is not sqlite or postgres");
    }
  }
  return sightings_.get();
}

Result<ObjectStore*> Services::objects() {
  if (!objects_) {
    ASSIGN_OR_RETURN(objects_, OpenObjectStore(config_.objects, config_.ObjectRoot()));
  }
  return objects_.get();
}

Result<FaceEngine*> Services::engine() {
  if (!engine_) {
    ASSIGN_OR_RETURN(engine_, FaceEngine::Create(config_.vision));
  }
  return engine_.get();
}

Result<Matcher*> Services::matcher() {
  if (!matcher_) {
    ASSIGN_OR_RETURN(FaceEngine * eng, engine());
    ASSIGN_OR_RETURN(FaceCollection * collection, faces());
    ASSIGN_OR_RETURN(const SearchMode mode, ParseSearchMode(config_.recognition.search_mode));
    matcher_ = std::make_unique<Matcher>(eng->pack(), collection,
                                         config_.recognition.target_false_welcome_rate, mode);
  }
  return matcher_.get();
}

}  // namespace concierge::cli
