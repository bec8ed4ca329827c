// The composition root's parts list: opens what a command or the server needs
// (database, stores, face collection, object store, vision engine, trainer)
// from the config, each at most once and only when asked, on the backends
// database.kind and objects.kind name. With ServerPipeline
// (app/server_pipeline.h) the only place that wires parts together.
// Commands that only read open with Access::kReadOnly: they create nothing and
// fail with kNotFound naming the path when the database is not there.
//
// Not thread-safe: open the parts from one thread; the parts themselves say
// what they allow.
#pragma once

#include <memory>

#include "core/config.h"
#include "notify/notifier.h"
#include "pipeline/matcher.h"
#include "pipeline/train.h"
#include "store/account_store.h"
#include "store/audit_log.h"
#include "store/database.h"
#include "store/face_collection.h"
#include "store/object_store.h"
#include "store/outbox_store.h"
#include "store/rekognition_store.h"
#include "store/settings_store.h"
#include "store/sighting_store.h"
#include "store/stranger_clusters.h"
#include "vision/face_engine.h"
#include "vision/image_io.h"

namespace concierge {

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
  // Stranger clusters (notify.cluster_*), the notification outbox and the
  // audit log, on the backend database.kind names.
  Result<StrangerClusters*> clusters();
  Result<OutboxStore*> outbox();
  Result<AuditLog*> audit();
  // Users, sessions and API tokens, on the backend database.kind names.
  Result<AccountStore*> accounts();
  // The Rekognition API's collections, FaceIds and kept answers, on the
  // backend database.kind names.
  Result<RekognitionStore*> rekognition();
  // The settings saved through the API, on the backend database.kind names.
  Result<SettingsStore*> settings();
  Result<ObjectStore*> objects();
  Result<FaceEngine*> engine();
  // Decides who a face is with the gallery's calibrated threshold.
  Result<Matcher*> matcher();
  // Training actions (tag, merge, forget) on the parts above, as the server
  // does them, audited as their actor; re-checking open strangers needs
  // SetMatcher(matcher()) first (the calibration costs a pass over the gallery). The chat
  // messages they change are updated through the outbox: the rows queued here
  // are delivered by a running server (or the next one to start).
  Result<Trainer*> trainer();
  ImageLimits image_limits() const {
    return {config_.vision.max_image_bytes, config_.vision.max_image_pixels};
  }
  const Config& config() const { return config_; }
  // database() when database.kind is "sqlite", else null (opens no file).
  Result<Database*> SqliteIfUsed();

 private:
  Result<std::unique_ptr<FaceRepository>> OpenFaceRepository();
  // kNotFound unless recognition.collection exists in `db`.
  Status RequireCollection(Database& db) const;

  const Config& config_;
  const Database::Access access_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<SightingStore> sightings_;  // these may use db_
  std::unique_ptr<StrangerClusters> clusters_;
  std::unique_ptr<OutboxStore> outbox_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<AccountStore> accounts_;
  std::unique_ptr<RekognitionStore> rekognition_;
  std::unique_ptr<SettingsStore> settings_;
  std::unique_ptr<FaceCollection> faces_;
  std::unique_ptr<ObjectStore> objects_;
  std::unique_ptr<FaceEngine> engine_;
  std::unique_ptr<Matcher> matcher_;
  std::unique_ptr<Notifier> notifier_;  // the trainer's observer; delivers nothing itself
  std::unique_ptr<Trainer> trainer_;
};

// Lays the settings saved through the API over `config` (see
// ConfigWithStoredSettings), read from the database `config` names; a
// read-only command without a database yet finds none and keeps `config`.
// Returns the settings document now in force: the config file's own document
// with the saved settings over it, which GET /api/v1/settings compares with
// to tell what waits for a restart.
Result<nlohmann::json> ApplyStoredSettings(Config& config,
                                           Database::Access access = Database::Access::kReadWrite);

}  // namespace concierge
