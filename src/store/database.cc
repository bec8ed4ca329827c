#include "store/database.h"

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "core/clock.h"

namespace concierge {

namespace {

// Ordered schema history: version N is kMigrations[N-1]. Append only; never
// edit a migration that has shipped.
const std::vector<const char*> kMigrations = {
    // 1: face collections.
    R"sql(
CREATE TABLE collections (
  name       TEXT PRIMARY KEY NOT NULL,
  created_ms INTEGER NOT NULL
);
CREATE TABLE persons (
  id           TEXT NOT NULL,
  collection   TEXT NOT NULL REFERENCES collections(name) ON DELETE CASCADE,
  display_name TEXT NOT NULL,
  external_id  TEXT NOT NULL DEFAULT '',
  created_ms   INTEGER NOT NULL,
  PRIMARY KEY (collection, id)
);
-- One person per external id (e.g. a Slack user) within a collection.
CREATE UNIQUE INDEX persons_external_id ON persons(collection, external_id)
  WHERE external_id <> '';
CREATE TABLE faces (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  collection TEXT NOT NULL,
  person_id  TEXT NOT NULL,
  embedding  BLOB NOT NULL,  -- float32 little-endian, dims values
  dims       INTEGER NOT NULL,
  image_key  TEXT NOT NULL DEFAULT '',
  quality    REAL NOT NULL DEFAULT 0,
  origin     TEXT NOT NULL CHECK (origin IN ('enrolled', 'tagged')),
  created_ms INTEGER NOT NULL,
  FOREIGN KEY (collection, person_id) REFERENCES persons(collection, id) ON DELETE CASCADE
);
CREATE INDEX faces_person ON faces(collection, person_id);
)sql",
    // 2: sightings and visits for the pipeline.
    R"sql(
CREATE TABLE visits (
  id         INTEGER PRIMARY KEY,
  site       TEXT NOT NULL,
  person_id  TEXT,
  started_ms INTEGER NOT NULL,
  last_ms    INTEGER NOT NULL,
  sightings  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX visits_person ON visits(person_id, last_ms);
CREATE TABLE sightings (
  id             TEXT PRIMARY KEY NOT NULL,
  camera         TEXT NOT NULL,
  site           TEXT NOT NULL,
  captured_ms    INTEGER NOT NULL,
  received_ms    INTEGER NOT NULL,
  box_x          REAL NOT NULL DEFAULT 0,
  box_y          REAL NOT NULL DEFAULT 0,
  box_w          REAL NOT NULL DEFAULT 0,
  box_h          REAL NOT NULL DEFAULT 0,
  detector_score REAL NOT NULL DEFAULT 0,
  quality_json   TEXT NOT NULL DEFAULT '{}',
  live_score     REAL NOT NULL DEFAULT -1,
  image_key      TEXT NOT NULL DEFAULT '',
  person_id      TEXT,
  similarity     REAL,
  decision       TEXT NOT NULL DEFAULT 'pending'
                 CHECK (decision IN ('pending', 'known', 'unknown', 'rejected')),
  visit_id       INTEGER REFERENCES visits(id) ON DELETE SET NULL
);
CREATE INDEX sightings_captured ON sightings(captured_ms);
CREATE INDEX sightings_person ON sightings(person_id, captured_ms);
)sql",
    // 3: what ingest and recognition record beyond migration 2: the track and
    // update number, when it was decided, and the server's own embedding (used
    // to group strangers into visits). Indexes for crash recovery and visits.
    R"sql(
ALTER TABLE sightings ADD COLUMN track TEXT NOT NULL DEFAULT '';
ALTER TABLE sightings ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sightings ADD COLUMN decided_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sightings ADD COLUMN embedding BLOB;  -- float32 little-endian
CREATE INDEX sightings_pending ON sightings(captured_ms) WHERE decision = 'pending';
CREATE INDEX sightings_site_decision ON sightings(site, decision, captured_ms);
CREATE INDEX visits_site_person ON visits(site, person_id, last_ms);
CREATE INDEX visits_last ON visits(last_ms);
)sql",
    // 4: the notification outbox. Every Slack/webhook notification is written
    // here first and delivered by a worker, so a crash or outage loses nothing;
    // idempotency_key makes a repeated enqueue a no-op.
    R"sql(
CREATE TABLE notify_outbox (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  kind            TEXT NOT NULL,
  channel         TEXT NOT NULL DEFAULT '',
  payload         TEXT NOT NULL,
  idempotency_key TEXT NOT NULL UNIQUE,
  state           TEXT NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms INTEGER NOT NULL DEFAULT 0,
  receipt         TEXT NOT NULL DEFAULT '',  -- e.g. the Slack message ts once posted
  last_error      TEXT NOT NULL DEFAULT '',
  created_ms      INTEGER NOT NULL,
  updated_ms      INTEGER NOT NULL
);
CREATE INDEX notify_outbox_open ON notify_outbox(id) WHERE state IN ('pending', 'sending');
)sql",
    // 5: chat-ops and training. Strangers are clustered by embedding so one
    // stranger gets one "who is this?"; "not me" leaves a negative example;
    // every tag, ignore, not-me, forget, login and settings change is audited.
    R"sql(
CREATE TABLE stranger_clusters (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  site             TEXT NOT NULL,
  centroid         BLOB NOT NULL,  -- float32 little-endian, unit length
  dims             INTEGER NOT NULL,
  sightings        INTEGER NOT NULL DEFAULT 0,
  best_sighting_id TEXT NOT NULL DEFAULT '',
  best_quality     REAL NOT NULL DEFAULT 0,
  first_ms         INTEGER NOT NULL,
  last_ms          INTEGER NOT NULL,
  state            TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'tagged', 'ignored')),
  person_id        TEXT,
  resolved_by      TEXT NOT NULL DEFAULT '',
  resolved_ms      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX stranger_clusters_open ON stranger_clusters(site, last_ms) WHERE state = 'open';
CREATE TABLE cluster_sightings (
  sighting_id TEXT PRIMARY KEY NOT NULL,
  cluster_id  INTEGER NOT NULL REFERENCES stranger_clusters(id) ON DELETE CASCADE,
  captured_ms INTEGER NOT NULL
);
CREATE INDEX cluster_sightings_cluster ON cluster_sightings(cluster_id);
CREATE TABLE face_negatives (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  collection  TEXT NOT NULL,
  person_id   TEXT NOT NULL,
  embedding   BLOB NOT NULL,  -- float32 little-endian
  dims        INTEGER NOT NULL,
  sighting_id TEXT NOT NULL DEFAULT '',
  created_ms  INTEGER NOT NULL,
  FOREIGN KEY (collection, person_id) REFERENCES persons(collection, id) ON DELETE CASCADE
);
CREATE INDEX face_negatives_person ON face_negatives(collection, person_id);
CREATE TABLE audit_log (
  id     INTEGER PRIMARY KEY AUTOINCREMENT,
  at_ms  INTEGER NOT NULL,
  actor  TEXT NOT NULL,   -- "slack:U123", "user:alice", "token:3", "cli"
  action TEXT NOT NULL,   -- "tag", "ignore", "not_me", "forget", "login", "settings", ...
  target TEXT NOT NULL DEFAULT '',
  detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log(at_ms);
)sql",
    // 6: people who may use the web UI and the API. Passwords, session ids
    // and API tokens are stored only as hashes.
    R"sql(
CREATE TABLE users (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  name          TEXT NOT NULL UNIQUE,
  role          TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
  password_hash TEXT NOT NULL,  -- libsodium crypto_pwhash_str
  created_ms    INTEGER NOT NULL
);
CREATE TABLE sessions (
  id_hash    TEXT PRIMARY KEY NOT NULL,  -- sha256 of the cookie value
  user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  csrf_token TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL
);
CREATE TABLE api_tokens (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name         TEXT NOT NULL,
  token_hash   TEXT NOT NULL UNIQUE,  -- sha256 of the token
  created_ms   INTEGER NOT NULL,
  last_used_ms INTEGER NOT NULL DEFAULT 0,
  revoked_ms   INTEGER NOT NULL DEFAULT 0
);
)sql",
    // 7: the Rekognition-compatible API (docs/rekognition.md): its access keys
    // (secrets encrypted with aws.key_encryption_secret, never stored plain),
    // the collections it created, what AWS reports about each face it indexed
    // (keyed by the FaceId it handed out), and the answers kept for
    // ClientRequestToken retries.
    R"sql(
CREATE TABLE aws_access_keys (
  id           TEXT PRIMARY KEY NOT NULL,  -- the access key id
  name         TEXT NOT NULL,
  secret_box   BLOB NOT NULL,  -- nonce + XChaCha20-Poly1305 ciphertext, the id as associated data
  created_ms   INTEGER NOT NULL,
  last_used_ms INTEGER NOT NULL DEFAULT 0,
  revoked_ms   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE rekognition_collections (
  id         TEXT PRIMARY KEY NOT NULL,  -- CollectionId, also the face collection's name
  created_ms INTEGER NOT NULL
);
CREATE TABLE rekognition_faces (
  face_uuid         TEXT PRIMARY KEY NOT NULL,  -- the FaceId handed out
  collection        TEXT NOT NULL,
  face_id           INTEGER NOT NULL UNIQUE,    -- the faces row holding it now
  image_id          TEXT NOT NULL,
  external_image_id TEXT NOT NULL DEFAULT '',
  box_left          REAL NOT NULL,
  box_top           REAL NOT NULL,
  box_width         REAL NOT NULL,
  box_height        REAL NOT NULL,
  confidence        REAL NOT NULL,
  created_ms        INTEGER NOT NULL
);
CREATE INDEX rekognition_faces_image ON rekognition_faces(collection, image_id);
CREATE TABLE rekognition_requests (
  operation   TEXT NOT NULL,
  token       TEXT NOT NULL,  -- ClientRequestToken
  request_sha TEXT NOT NULL,  -- sha256 of the request without the token
  response    TEXT NOT NULL,  -- the JSON answered the first time
  created_ms  INTEGER NOT NULL,
  PRIMARY KEY (operation, token)
);
)sql",
    // 8: several embedding models. A face keeps one embedding per model that
    // made one (face_embeddings) and the box of the face in its picture, so it
    // can be re-embedded; faces may also be learned from recognised sightings.
    // Embeddings stored before models were recorded are marked 'unrecorded'
    // until `concierge reindex` replaces them. SQLite cannot change a CHECK
    // constraint in place, so faces is rebuilt.
    R"sql(
CREATE TABLE face_embeddings_v6 AS SELECT id AS face_id, dims, embedding FROM faces;
CREATE TABLE faces_v7 (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  collection TEXT NOT NULL,
  person_id  TEXT NOT NULL,
  image_key  TEXT NOT NULL DEFAULT '',
  box_x      REAL NOT NULL DEFAULT 0,
  box_y      REAL NOT NULL DEFAULT 0,
  box_w      REAL NOT NULL DEFAULT 0,  -- 0: the box was not recorded
  box_h      REAL NOT NULL DEFAULT 0,
  quality    REAL NOT NULL DEFAULT 0,
  origin     TEXT NOT NULL CHECK (origin IN ('enrolled', 'tagged', 'learned')),
  sighting_id TEXT NOT NULL DEFAULT '',  -- where a tagged or learned face came from
  created_ms INTEGER NOT NULL,
  FOREIGN KEY (collection, person_id) REFERENCES persons(collection, id) ON DELETE CASCADE
);
INSERT INTO faces_v7(id, collection, person_id, image_key, quality, origin, created_ms)
  SELECT id, collection, person_id, image_key, quality, origin, created_ms FROM faces;
DROP TABLE faces;
ALTER TABLE faces_v7 RENAME TO faces;
CREATE INDEX faces_person ON faces(collection, person_id);
CREATE TABLE face_embeddings (
  face_id   INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
  model     TEXT NOT NULL,  -- the embedder's recipe id, e.g. faceplugin-arcface-512@1a2b3c4d5e6f
  dims      INTEGER NOT NULL,
  embedding BLOB NOT NULL,  -- float32 little-endian, dims values, unit length
  PRIMARY KEY (face_id, model)
);
INSERT INTO face_embeddings(face_id, model, dims, embedding)
  SELECT face_id, 'unrecorded', dims, embedding FROM face_embeddings_v6;
DROP TABLE face_embeddings_v6;
ALTER TABLE face_negatives ADD COLUMN model TEXT NOT NULL DEFAULT 'unrecorded';
)sql",
    // 9: where the faces are in a sighting's picture (the edge sends the
    // track's best few crops side by side) and the edge's human-face check.
    R"sql(
ALTER TABLE sightings ADD COLUMN views_json TEXT NOT NULL DEFAULT '{}';
)sql",
    // 10: outbox claims with a lease (store/outbox_store.h), so a worker that
    // dies mid-delivery leaves its row to the next one.
    R"sql(
ALTER TABLE notify_outbox ADD COLUMN lease_until_ms INTEGER NOT NULL DEFAULT 0;
)sql",
    // 11: per-person notification preferences (core/person_preferences.h), JSON.
    R"sql(
ALTER TABLE persons ADD COLUMN preferences TEXT NOT NULL DEFAULT '{}';
)sql",
    // 12: every embedder's vector of an unknown face in embeddings-only mode
    // (SightingRecord::descriptor), JSON.
    R"sql(
ALTER TABLE sightings ADD COLUMN descriptor_json TEXT NOT NULL DEFAULT '[]';
)sql",
    // 13: visits seen by a camera (VisitQuery::camera).
    R"sql(
CREATE INDEX sightings_camera_visit ON sightings(camera, visit_id);
)sql",
    // 14: the settings saved through the API (store/settings_store.h), JSON.
    R"sql(
CREATE TABLE settings (
  id       INTEGER PRIMARY KEY CHECK (id = 1),
  document TEXT NOT NULL
);
)sql",
    // 15: failed logins, which the login rate limit counts (store/account_store.h).
    R"sql(
CREATE TABLE login_failures (
  key   TEXT NOT NULL,  -- "name:<user name>" or "addr:<client address>"
  at_ms INTEGER NOT NULL
);
CREATE INDEX login_failures_key ON login_failures(key, at_ms);
CREATE INDEX login_failures_at ON login_failures(at_ms);
)sql",
    // 16: a change counter per face collection, bumped by every write to its
    // persons, faces, vectors and negatives (FaceRepository::ChangeToken), so
    // a server reloads its copy only when the collection changed, not on
    // every write to the database.
    R"sql(
ALTER TABLE collections ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
CREATE TRIGGER persons_insert_bumps AFTER INSERT ON persons BEGIN
  UPDATE collections SET version = version + 1 WHERE name = NEW.collection; END;
CREATE TRIGGER persons_update_bumps AFTER UPDATE ON persons BEGIN
  UPDATE collections SET version = version + 1 WHERE name = NEW.collection; END;
CREATE TRIGGER persons_delete_bumps AFTER DELETE ON persons BEGIN
  UPDATE collections SET version = version + 1 WHERE name = OLD.collection; END;
CREATE TRIGGER faces_insert_bumps AFTER INSERT ON faces BEGIN
  UPDATE collections SET version = version + 1 WHERE name = NEW.collection; END;
CREATE TRIGGER faces_update_bumps AFTER UPDATE ON faces BEGIN
  UPDATE collections SET version = version + 1 WHERE name = NEW.collection; END;
CREATE TRIGGER faces_delete_bumps AFTER DELETE ON faces BEGIN
  UPDATE collections SET version = version + 1 WHERE name = OLD.collection; END;
CREATE TRIGGER face_negatives_insert_bumps AFTER INSERT ON face_negatives BEGIN
  UPDATE collections SET version = version + 1 WHERE name = NEW.collection; END;
CREATE TRIGGER face_negatives_delete_bumps AFTER DELETE ON face_negatives BEGIN
  UPDATE collections SET version = version + 1 WHERE name = OLD.collection; END;
CREATE TRIGGER face_embeddings_insert_bumps AFTER INSERT ON face_embeddings BEGIN
  UPDATE collections SET version = version + 1
    WHERE name = (SELECT collection FROM faces WHERE id = NEW.face_id); END;
CREATE TRIGGER face_embeddings_update_bumps AFTER UPDATE ON face_embeddings BEGIN
  UPDATE collections SET version = version + 1
    WHERE name = (SELECT collection FROM faces WHERE id = NEW.face_id); END;
CREATE TRIGGER face_embeddings_delete_bumps AFTER DELETE ON face_embeddings BEGIN
  UPDATE collections SET version = version + 1
    WHERE name = (SELECT collection FROM faces WHERE id = OLD.face_id); END;
)sql",
};

// Maps an SQLite result code to a Status whose message names the path and
// what was being done, so operators can act on it.
Status SqliteStatus(sqlite3* db, int rc, const std::string& path, std::string_view what) {
  const std::string detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const std::string where = path + " (" + std::string(what) + "): " + detail;
  switch (rc & 0xff) {
    case SQLITE_READONLY: return Status::IoError("database is read-only: " + where);
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return Status::IoError("database is locked: " + where);
    case SQLITE_FULL: return Status::IoError("disk full: " + where);
    case SQLITE_CANTOPEN: return Status::IoError("cannot open database: " + where);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return Status::IoError("database is corrupt or not a database: " + where);
    case SQLITE_IOERR: return Status::IoError("database I/O error: " + where);
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
        return Status::AlreadyExists("duplicate row: " + where);
      if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return Status::NotFound("referenced row does not exist: " + where);
      return Status::InvalidArgument("constraint failed: " + where);
    default: return Status::Internal("database error: " + where);
  }
}

}  // namespace

// ---- Statement ----

Statement::Statement(sqlite3_stmt* stmt, const std::string* db_path)
    : stmt_(stmt), db_path_(db_path) {}

Statement::Statement(Statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)),
      db_path_(other.db_path_),
      next_param_(other.next_param_),
      bind_error_(std::move(other.bind_error_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
    db_path_ = other.db_path_;
    next_param_ = other.next_param_;
    bind_error_ = std::move(other.bind_error_);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

namespace {
// Records the first failed bind on `stmt` so the next Step reports it.
void NoteBind(sqlite3_stmt* stmt, int rc, const std::string& path, Status* error) {
  if (rc != SQLITE_OK && error->ok())
    *error = SqliteStatus(sqlite3_db_handle(stmt), rc, path, "binding a parameter");
}
}  // namespace

Statement& Statement::BindInt(int64_t value) {
  NoteBind(stmt_, sqlite3_bind_int64(stmt_, next_param_++, value), *db_path_, &bind_error_);
  return *this;
}

Statement& Statement::BindDouble(double value) {
  NoteBind(stmt_, sqlite3_bind_double(stmt_, next_param_++, value), *db_path_, &bind_error_);
  return *this;
}

Statement& Statement::BindText(std::string_view value) {
  NoteBind(stmt_,
           sqlite3_bind_text64(stmt_, next_param_++, value.data(), value.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8),
           *db_path_, &bind_error_);
  return *this;
}

Statement& Statement::BindBlob(const void* data, size_t size) {
  // A zero-length blob with a null pointer would bind NULL; keep it a blob.
  static const char kEmpty = 0;
  NoteBind(stmt_,
           sqlite3_bind_blob64(stmt_, next_param_++, size ? data : &kEmpty, size, SQLITE_TRANSIENT),
           *db_path_, &bind_error_);
  return *this;
}

Statement& Statement::BindNull() {
  NoteBind(stmt_, sqlite3_bind_null(stmt_, next_param_++), *db_path_, &bind_error_);
  return *this;
}

Result<bool> Statement::Step() {
  if (!bind_error_.ok()) return bind_error_;
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteStatus(sqlite3_db_handle(stmt_), rc, *db_path_, sqlite3_sql(stmt_));
}

Status Statement::Run() {
  return ForEach([](const Statement&) { return Status::Ok(); });
}

Status Statement::ForEach(const std::function<Status(const Statement&)>& row) {
  while (true) {
    ASSIGN_OR_RETURN(const bool has_row, Step());
    if (!has_row) return Status::Ok();
    RETURN_IF_ERROR(row(*this));
  }
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  next_param_ = 1;
  bind_error_ = Status::Ok();
}

int64_t Statement::ColumnInt(int column) const { return sqlite3_column_int64(stmt_, column); }

double Statement::ColumnDouble(int column) const { return sqlite3_column_double(stmt_, column); }

std::string Statement::ColumnText(int column) const {
  const auto* text = sqlite3_column_text(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);
  return text ? std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size)) : "";
}

std::string_view Statement::ColumnBlob(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);
  return data ? std::string_view(static_cast<const char*>(data), static_cast<size_t>(size))
              : std::string_view();
}

bool Statement::ColumnIsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

// ---- Connection ----

Result<Statement> Connection::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc =
      sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return SqliteStatus(db_, rc, *path_, sql);
  }
  return Statement(stmt, path_);
}

Status Connection::Exec(const std::string& sql) {
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? Status::Ok() : SqliteStatus(db_, rc, *path_, sql);
}

int64_t Connection::LastInsertId() const { return sqlite3_last_insert_rowid(db_); }

int64_t Connection::Changes() const { return sqlite3_changes64(db_); }

// ---- Database ----

Database::Database(sqlite3* db, std::string path)
    : path_(std::move(path)), db_(db), conn_(db, &path_) {}

Database::~Database() { sqlite3_close_v2(db_); }

int Database::LatestSchemaVersion() { return static_cast<int>(kMigrations.size()); }

Result<std::unique_ptr<Database>> Database::OpenSqlite(const std::string& path,
                                                       int busy_timeout_ms, Access access) {
  if (path.empty()) return Status::InvalidArgument("database path is empty");
  const bool read_only = access == Access::kReadOnly;
  if (!read_only) {
    const auto parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec)
      return Status::IoError("cannot create directory " + parent.string() + " for database " +
                             path + ": " + ec.message());
  }

  sqlite3* raw = nullptr;
  const int flags = SQLITE_OPEN_NOMUTEX |
                    (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  // Owning from here on so every early return closes the handle.
  std::unique_ptr<Database> db(new Database(raw, path));
  if (rc != SQLITE_OK) return SqliteStatus(raw, rc, path, "opening");
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, busy_timeout_ms);
  // SQLite silently falls back to read-only when the file is not writable;
  // a caller who asked to write must hear about it now, not on the first write.
  if (!read_only && sqlite3_db_readonly(raw, "main") == 1)
    return Status::IoError("database is read-only: " + path + " (opened for writing)");

  RETURN_IF_ERROR(db->conn_.Exec("PRAGMA foreign_keys = ON"));
  if (!read_only) {
    // Switching to WAL needs an exclusive lock, and SQLite answers SQLITE_BUSY at
    // once, without the busy handler, when another opener holds the file (it could
    // deadlock otherwise); so concurrent openers retry within the busy timeout.
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms);
    std::string mode;
    for (;;) {
      Result<std::string> switched = [&]() -> Result<std::string> {
        ASSIGN_OR_RETURN(Statement wal, db->conn_.Prepare("PRAGMA journal_mode = WAL"));
        ASSIGN_OR_RETURN(const bool has_row, wal.Step());
        return has_row ? wal.ColumnText(0) : std::string();
      }();
      if (switched.ok()) {
        mode = *switched;
        break;
      }
      const bool locked = switched.status().message().rfind("database is locked", 0) == 0;
      if (!locked || std::chrono::steady_clock::now() >= deadline)
        return switched.status();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    // An in-memory database has no journal file, so it can never be WAL.
    if (mode != "wal" && !(path == ":memory:" && mode == "memory"))
      return Status::IoError("cannot enable WAL journal on " + path + " (mode is '" + mode + "')");
  }
  RETURN_IF_ERROR(db->Migrate(access));
  return db;
}

Status Database::Transaction(const std::function<Status(Connection&)>& fn) {
  // IMMEDIATE takes the write lock up front, so the busy timeout applies here
  // rather than failing mid-transaction when a read lock cannot be upgraded.
  return RunTransaction("BEGIN IMMEDIATE", fn);
}

Status Database::ReadTransaction(const std::function<Status(Connection&)>& fn) {
  return RunTransaction("BEGIN", fn);
}

Status Database::RunTransaction(const char* begin,
                                const std::function<Status(Connection&)>& fn) {
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(conn_.Exec(begin));
  Status status = fn(conn_);
  if (status.ok()) status = conn_.Exec("COMMIT");
  if (!status.ok() && !sqlite3_get_autocommit(db_)) {
    const Status rollback = conn_.Exec("ROLLBACK");
    if (!rollback.ok()) spdlog::error("rollback failed: {}", rollback.ToString());
  }
  return status;
}

Result<int64_t> Database::RowsChangedBy(std::string_view sql, int64_t param) {
  return WithConnection([&](Connection& c) -> Result<int64_t> {
    ASSIGN_OR_RETURN(Statement st, c.Prepare(sql));
    RETURN_IF_ERROR(st.BindInt(param).Run());
    return c.Changes();
  });
}

Result<int> Database::SchemaVersion() {
  return WithConnection([](Connection& c) -> Result<int> {
    ASSIGN_OR_RETURN(Statement has_table,
                     c.Prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                               "name = 'schema_migrations'"));
    ASSIGN_OR_RETURN(const bool exists, has_table.Step());
    if (!exists) return 0;
    ASSIGN_OR_RETURN(Statement max,
                     c.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
    ASSIGN_OR_RETURN(const bool has_row, max.Step());
    return has_row ? static_cast<int>(max.ColumnInt(0)) : 0;
  });
}

Status Database::Migrate(Access access) {
  ASSIGN_OR_RETURN(const int current, SchemaVersion());
  const int latest = LatestSchemaVersion();
  if (current > latest)
    return Status::FailedPrecondition("database " + path_ + " has schema version " +
                                      std::to_string(current) + ", newer than this build (" +
                                      std::to_string(latest) + "); upgrade concierge");
  if (current == latest) return Status::Ok();
  if (access == Access::kReadOnly)
    return Status::IoError("database is read-only: " + path_ + " needs schema migration from " +
                           std::to_string(current) + " to " + std::to_string(latest));
  for (int version = current + 1; version <= latest; ++version) {
    RETURN_IF_ERROR(Transaction([&](Connection& c) -> Status {
      RETURN_IF_ERROR(
          c.Exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
                 "version INTEGER PRIMARY KEY NOT NULL, applied_ms INTEGER NOT NULL)"));
      // Another process may have applied it while we waited for the lock.
      ASSIGN_OR_RETURN(Statement seen,
                       c.Prepare("SELECT 1 FROM schema_migrations WHERE version = ?"));
      ASSIGN_OR_RETURN(const bool applied, seen.BindInt(version).Step());
      if (applied) return Status::Ok();
      RETURN_IF_ERROR(c.Exec(kMigrations[static_cast<size_t>(version - 1)]));
      ASSIGN_OR_RETURN(
          Statement record,
          c.Prepare("INSERT INTO schema_migrations(version, applied_ms) VALUES(?, ?)"));
      return record.BindInt(version).BindInt(NowMs()).Run();
    }));
    spdlog::info("database {}: applied schema migration {}", path_, version);
  }
  return Status::Ok();
}

}  // namespace concierge
