// Opens the parts a command needs (database, face collection, object store,
// vision engine) from the config, each at most once and only when asked.
// Commands that only read open with Access::kReadOnly: they create nothing and
// fail with kNotFound naming the path when the database is not there.
#pragma once

#include <memory>

#include "core/config.h"
#include "pipeline/matcher.h"
#include "store/database.h"
#include "store/face_collection.h"
#include "store/object_store.h"
#include "store/sighting_store.h"
#include "vision/face_engine.h"
#include "vision/image_io.h"

namespace concierge::cli {

class Services {
 public:
  explicit Services(const Config& config, Database::Access access = Database::Access::kReadWrite)
      : config_(config), access_(access) {}

  // The SQLite database (database.sqlite_path), whatever database.kind says.
  // Read-only: kNotFound naming the data dir or the database file when missing.
  Result<Database*> database();
  // The recognition collection on the backend database.kind names (sqlite or postgres).
  Result<FaceCollection*> faces();
  // The sightings and visits, on the backend database.kind names.
  Result<SightingStore*> sightings();
  Result<ObjectStore*> objects();
  Result<FaceEngine*> engine();
  // Decides who a face is with the gallery's calibrated threshold.
  Result<Matcher*> matcher();
  ImageLimits image_limits() const {
    return {config_.vision.max_image_bytes, config_.vision.max_image_pixels};
  }
  const Config& config() const { return config_; }

 private:
  Result<std::unique_ptr<FaceRepository>> OpenFaceRepository();
  // kNotFound unless recognition.collection exists in `db`.
  Status RequireCollection(Database& db) const;

  const Config& config_;
  const Database::Access access_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<SightingStore> sightings_;  // may use db_
  std::unique_ptr<FaceCollection> faces_;
  std::unique_ptr<ObjectStore> objects_;
  std::unique_ptr<FaceEngine> engine_;
  std::unique_ptr<Matcher> matcher_;
};

}  // namespace concierge::cli
