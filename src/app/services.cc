#include "app/services.h"

#include <algorithm>
#include <filesystem>
#include <utility>

#include <spdlog/spdlog.h>

#include "http/config_file.h"
#include "store/open_face_repository.h"
#include "store/pg_sighting_store.h"
#include "store/sqlite_sighting_store.h"

namespace concierge {

namespace {

// kNotFound unless the database file exists, naming where it looked, so a
// read-only command run in the wrong folder says so instead of finding nothing.
Status RequireDatabaseFile(const Config& config) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path db = fs::absolute(config.DatabasePath(), ec);
  if (fs::exists(db, ec)) return Status::Ok();
  const fs::path dir = fs::absolute(config.data_dir, ec);
  const std::string hint = "; pass --data-dir or set CONCIERGE_DATA_DIR";
  if (config.database.sqlite_path.empty() && !fs::exists(dir, ec))
    return Status::NotFound("no data dir at " + dir.string() + " (looked for the database " +
                            db.string() + ")" + hint);
  return Status::NotFound("no database at " + db.string() + hint);
}

}  // namespace

Status Services::RequireCollection(Database& db) const {
  const std::string& name = config_.recognition.collection;
  bool exists = false;
  RETURN_IF_ERROR(db.WithConnection([&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement st, c.Prepare("SELECT 1 FROM collections WHERE name = ?"));
    ASSIGN_OR_RETURN(exists, st.BindText(name).Step());
    return Status::Ok();
  }));
  if (exists) return Status::Ok();
  return Status::NotFound("no face collection '" + name + "' in " + db.path() +
                          ": nobody has been enrolled yet");
}

Result<Database*> Services::database() {
  if (!db_) {
    if (access_ == Database::Access::kReadOnly) RETURN_IF_ERROR(RequireDatabaseFile(config_));
    ASSIGN_OR_RETURN(db_, Database::OpenSqlite(config_.DatabasePath(),
                                               config_.database.busy_timeout_ms, access_));
  }
  return db_.get();
}

Result<std::unique_ptr<FaceRepository>> Services::OpenFaceRepository() {
  Database* sqlite = nullptr;
  if (config_.database.kind == "sqlite") {
    ASSIGN_OR_RETURN(sqlite, database());
    // Opening would create the collection; read-only, say it is not there instead.
    if (access_ == Database::Access::kReadOnly) RETURN_IF_ERROR(RequireCollection(*sqlite));
  }
  return concierge::OpenFaceRepository(config_.database, sqlite, config_.recognition.collection);
}

Result<FaceCollection*> Services::faces() {
  if (!faces_) {
    ASSIGN_OR_RETURN(std::unique_ptr<FaceRepository> repository, OpenFaceRepository());
    // The manifest alone names the models; no need to load the nets.
    ASSIGN_OR_RETURN(ModelPack pack, LoadModelPack(config_.vision.models_dir));
    SearchIndexOptions index = SearchIndexOptionsFor(config_);
    // A read-only command searches a few times at most (or only reads names):
    // exact scans cost less than building the approximate index first.
    if (access_ == Database::Access::kReadOnly) index.ann_min_faces = 0;
    ASSIGN_OR_RETURN(faces_, FaceCollection::Open(std::move(repository),
                                                  SpacesOf(pack.embedders), index));
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

Result<Database*> Services::SqliteIfUsed() {
  if (config_.database.kind != "sqlite") return static_cast<Database*>(nullptr);
  return database();
}

Result<StrangerClusters*> Services::clusters() {
  if (!clusters_) {
    ASSIGN_OR_RETURN(Database * sqlite, SqliteIfUsed());
    const NotifyConfig& n = config_.notify;
    ASSIGN_OR_RETURN(clusters_,
                     OpenStrangerClusters(config_.database, sqlite, n.cluster_threshold,
                                          int64_t{n.cluster_window_hours} * 3600000));
  }
  return clusters_.get();
}

Result<OutboxStore*> Services::outbox() {
  if (!outbox_) {
    ASSIGN_OR_RETURN(Database * sqlite, SqliteIfUsed());
    ASSIGN_OR_RETURN(outbox_, OpenOutboxStore(config_.database, sqlite));
  }
  return outbox_.get();
}

Result<AuditLog*> Services::audit() {
  if (!audit_) {
    ASSIGN_OR_RETURN(Database * sqlite, SqliteIfUsed());
    ASSIGN_OR_RETURN(audit_, OpenAuditLog(config_.database, sqlite));
  }
  return audit_.get();
}

Result<SettingsStore*> Services::settings() {
  if (!settings_) {
    ASSIGN_OR_RETURN(Database * sqlite, SqliteIfUsed());
    ASSIGN_OR_RETURN(settings_, OpenSettingsStore(config_.database, sqlite));
  }
  return settings_.get();
}

Result<AccountStore*> Services::accounts() {
  if (!accounts_) {
    ASSIGN_OR_RETURN(Database * sqlite, SqliteIfUsed());
    ASSIGN_OR_RETURN(accounts_, OpenAccountStore(config_.database, sqlite));
  }
  return accounts_.get();
}

Result<RekognitionStore*> Services::rekognition() {
  if (!rekognition_) {
    ASSIGN_OR_RETURN(Database * sqlite, SqliteIfUsed());
    ASSIGN_OR_RETURN(rekognition_, OpenRekognitionStore(config_.database, sqlite));
  }
  return rekognition_.get();
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

Result<Trainer*> Services::trainer() {
  if (!trainer_) {
    TrainerParts parts;
    ASSIGN_OR_RETURN(parts.engine, engine());
    ASSIGN_OR_RETURN(parts.sightings, sightings());
    ASSIGN_OR_RETURN(parts.objects, objects());
    ASSIGN_OR_RETURN(parts.faces, faces());
    ASSIGN_OR_RETURN(parts.clusters, clusters());
    ASSIGN_OR_RETURN(parts.audit, audit());
    NotifierParts observed;
    ASSIGN_OR_RETURN(observed.outbox, outbox());
    observed.sightings = parts.sightings;
    observed.objects = parts.objects;
    observed.faces = parts.faces;
    observed.clusters = parts.clusters;
    ASSIGN_OR_RETURN(notifier_, Notifier::Create(config_, observed));
    trainer_ = std::make_unique<Trainer>(config_.quality, image_limits(), parts);
    trainer_->SetObserver(notifier_.get());
  }
  return trainer_.get();
}

Result<nlohmann::json> ApplyStoredSettings(Config& config, Database::Access access) {
  nlohmann::json stored = nlohmann::json::object();
  {
    Services services(config, access);
    Result<SettingsStore*> store = services.settings();
    const bool none_yet = access == Database::Access::kReadOnly &&
                          store.status().code() == Status::Code::kNotFound;
    if (!store.ok() && !none_yet) return store.status();
    if (store.ok()) {
      ASSIGN_OR_RETURN(stored, (*store)->Load());
    }
  }
  ASSIGN_OR_RETURN(config, ConfigWithStoredSettings(config, stored));
  ASSIGN_OR_RETURN(const nlohmann::json file_doc, ReadConfigFile(config.ConfigFilePath()));
  if (!stored.empty()) {
    std::string keys;  // dotted, as the settings API names them
    const nlohmann::json leaves = stored.flatten();
    for (const auto& [pointer, value] : leaves.items()) {
      std::string key = pointer.substr(1);
      std::replace(key.begin(), key.end(), '/', '.');
      keys.append(keys.empty() ? "" : " ").append(key);
    }
    spdlog::info("settings: applied saved {}", keys);
  }
  return SettingsDocument(file_doc, stored);
}

}  // namespace concierge
