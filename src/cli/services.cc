#include "cli/services.h"

#include <utility>

#include "store/open_face_repository.h"

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
    // The manifest alone gives the embedding size; no need to load the nets.
    ASSIGN_OR_RETURN(ModelPack pack, LoadModelPack(config_.vision.models_dir));
    ASSIGN_OR_RETURN(ModelSpec embedder, pack.Get("embedder"));
    ASSIGN_OR_RETURN(faces_, FaceCollection::Open(std::move(repository),
                                                  embedder.extra.value("dimensions", 512)));
  }
  return faces_.get();
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

}  // namespace concierge::cli
