// The PostgreSQL backend of the RekognitionStore (store/rekognition_store.h),
// shared by every server on the database. Concurrent records of the same
// collection or face meet in ON CONFLICT, so neither server gets an error.
#include <string>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

#include "store/pg_client.h"
#include "store/rekognition_store.h"

namespace concierge {

namespace {

constexpr char kComponent[] = "rekognition";

// Versioned schema; never edit an entry that has shipped.
const std::vector<const char*> kMigrations = {
    // 1: as the SQLite backend's rekognition_* tables of migration 7. Ids
    // compare bytewise (COLLATE "C"), as SQLite's do, so ListCollections pages
    // alike on both.
    R"sql(
CREATE TABLE rekognition_collections (
  id         TEXT COLLATE "C" PRIMARY KEY NOT NULL,  -- CollectionId = the face collection's name
  created_ms BIGINT NOT NULL
);
CREATE TABLE rekognition_faces (
  face_uuid         TEXT COLLATE "C" PRIMARY KEY NOT NULL,  -- the FaceId handed out
  collection        TEXT NOT NULL,
  face_id           BIGINT NOT NULL UNIQUE,  -- the faces row holding it now
  image_id          TEXT NOT NULL,
  external_image_id TEXT NOT NULL DEFAULT '',
  box_left          REAL NOT NULL,
  box_top           REAL NOT NULL,
  box_width         REAL NOT NULL,
  box_height        REAL NOT NULL,
  confidence        REAL NOT NULL,
  created_ms        BIGINT NOT NULL
);
CREATE INDEX rekognition_faces_collection ON rekognition_faces(collection, face_id);
CREATE INDEX rekognition_faces_image ON rekognition_faces(collection, image_id);
CREATE TABLE rekognition_requests (
  operation   TEXT NOT NULL,
  token       TEXT NOT NULL,  -- ClientRequestToken
  request_sha TEXT NOT NULL,  -- sha256 of the request without the token
  response    TEXT NOT NULL,  -- the JSON answered the first time
  created_ms  BIGINT NOT NULL,
  PRIMARY KEY (operation, token)
);
CREATE INDEX rekognition_requests_created ON rekognition_requests(created_ms);
)sql",
};

constexpr char kFaceColumns[] =
    "SELECT face_uuid, collection, face_id, image_id, external_image_id, box_left, box_top, "
    "box_width, box_height, confidence, created_ms FROM rekognition_faces ";

IndexedFace FaceFromRow(const pqxx::row& row) {
  IndexedFace f;
  f.face_uuid = row[0].c_str();
  f.collection = row[1].c_str();
  f.face_id = row[2].as<int64_t>();
  f.image_id = row[3].c_str();
  f.external_image_id = row[4].c_str();
  f.left = PgReadReal(row[5]);
  f.top = PgReadReal(row[6]);
  f.width = PgReadReal(row[7]);
  f.height = PgReadReal(row[8]);
  f.confidence = PgReadReal(row[9]);
  f.created_ms = row[10].as<int64_t>();
  return f;
}

class PgRekognitionStore final : public RekognitionStore {
 public:
  explicit PgRekognitionStore(std::string conninfo) : client_(std::move(conninfo)) {}

  Status Open() { return client_.Migrate(kComponent, kMigrations); }

  Status AddCollection(const std::string& id, int64_t created_ms) override {
    bool added = false;
    RETURN_IF_ERROR(client_.Write("recording collection " + id, [&](pqxx::work& tx) {
      added = !PgParams().Text(id).Int(created_ms)
                   .Exec(tx, "INSERT INTO rekognition_collections(id, created_ms) "
                             "VALUES($1, $2) ON CONFLICT (id) DO NOTHING RETURNING id")
                   .empty();
    }));
    return added ? Status::Ok() : CollectionExists(id);
  }

  Status EnsureCollection(const std::string& id, int64_t created_ms) override {
    return client_.Write("recording collection " + id, [&](pqxx::work& tx) {
      PgParams().Text(id).Int(created_ms)
          .Exec(tx, "INSERT INTO rekognition_collections(id, created_ms) VALUES($1, $2) "
                    "ON CONFLICT (id) DO NOTHING");
    });
  }

  Result<std::optional<CollectionEntry>> GetCollection(const std::string& id) override {
    using Found = std::optional<CollectionEntry>;
    return client_.Run<Found>("reading collection " + id, [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      const pqxx::result r = PgParams().Text(id).Exec(
          tx, "SELECT created_ms FROM rekognition_collections WHERE id = $1");
      if (r.empty()) return Result<Found>(Found());
      return Result<Found>(CollectionEntry{id, r[0][0].as<int64_t>()});
    });
  }

  Result<std::vector<CollectionEntry>> ListCollections(const std::string& after,
                                                       int limit) override {
    using Entries = std::vector<CollectionEntry>;
    return client_.Run<Entries>("listing collections", [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      Entries out;
      for (const auto& row : PgParams().Text(after).Limit(limit).Exec(
               tx, "SELECT id, created_ms FROM rekognition_collections WHERE id > $1 "
                   "ORDER BY id LIMIT $2"))
        out.push_back({row[0].c_str(), row[1].as<int64_t>()});
      return Result<Entries>(std::move(out));
    });
  }

  Status RemoveCollection(const std::string& id) override {
    return client_.Write("forgetting collection " + id, [&](pqxx::work& tx) {
      PgParams().Text(id).Exec(tx, "DELETE FROM rekognition_faces WHERE collection = $1");
      PgParams().Text(id).Exec(tx, "DELETE FROM rekognition_collections WHERE id = $1");
    });
  }

  Status PutFace(const IndexedFace& f) override {
    return client_.Write("recording face " + f.face_uuid, [&](pqxx::work& tx) {
      // As SQLite's INSERT OR REPLACE: a row holds one face, so another
      // record of this face_id goes too.
      PgParams().Int(f.face_id).Text(f.face_uuid)
          .Exec(tx, "DELETE FROM rekognition_faces WHERE face_id = $1 AND face_uuid <> $2");
      PgParams().Text(f.face_uuid).Text(f.collection).Int(f.face_id).Text(f.image_id)
          .Text(f.external_image_id).Real(f.left).Real(f.top).Real(f.width).Real(f.height)
          .Real(f.confidence).Int(f.created_ms)
          .Exec(tx, "INSERT INTO rekognition_faces(face_uuid, collection, face_id, image_id, "
                    "external_image_id, box_left, box_top, box_width, box_height, confidence, "
                    "created_ms) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
                    "ON CONFLICT (face_uuid) DO UPDATE SET collection = EXCLUDED.collection, "
                    "face_id = EXCLUDED.face_id, image_id = EXCLUDED.image_id, "
                    "external_image_id = EXCLUDED.external_image_id, "
                    "box_left = EXCLUDED.box_left, box_top = EXCLUDED.box_top, "
                    "box_width = EXCLUDED.box_width, box_height = EXCLUDED.box_height, "
                    "confidence = EXCLUDED.confidence, created_ms = EXCLUDED.created_ms");
    });
  }

  Result<std::optional<IndexedFace>> FaceByUuid(const std::string& collection,
                                                const std::string& face_uuid) override {
    return OneFace("reading face " + face_uuid, PgParams().Text(collection).Text(face_uuid),
                   "WHERE collection = $1 AND face_uuid = $2");
  }

  Result<std::optional<IndexedFace>> FaceByRow(const std::string& collection,
                                               int64_t face_id) override {
    return OneFace("reading face row " + std::to_string(face_id),
                   PgParams().Text(collection).Int(face_id),
                   "WHERE collection = $1 AND face_id = $2");
  }

  Result<std::vector<IndexedFace>> FacesOf(const std::string& collection) override {
    return Faces("reading the faces of " + collection, PgParams().Text(collection),
                 "WHERE collection = $1 ORDER BY face_id");
  }

  Result<std::vector<IndexedFace>> FacesOfImage(const std::string& collection,
                                                const std::string& image_id) override {
    return Faces("reading the faces of image " + image_id,
                 PgParams().Text(collection).Text(image_id),
                 "WHERE collection = $1 AND image_id = $2 ORDER BY created_ms, face_uuid");
  }

  Status RemoveFaceRow(int64_t face_id) override {
    return client_.Write("forgetting face row " + std::to_string(face_id), [&](pqxx::work& tx) {
      PgParams().Int(face_id).Exec(tx, "DELETE FROM rekognition_faces WHERE face_id = $1");
    });
  }

  Result<std::optional<StoredResponse>> FindResponse(const std::string& operation,
                                                     const std::string& token) override {
    using Found = std::optional<StoredResponse>;
    return client_.Run<Found>("reading a kept answer", [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      const pqxx::result r = PgParams().Text(operation).Text(token).Exec(
          tx, "SELECT request_sha, response FROM rekognition_requests "
              "WHERE operation = $1 AND token = $2");
      if (r.empty()) return Result<Found>(Found());
      return Result<Found>(StoredResponse{r[0][0].c_str(), r[0][1].c_str()});
    });
  }

  Status KeepResponse(const std::string& operation, const std::string& token,
                      const StoredResponse& response, int64_t now_ms) override {
    return client_.Write("keeping an answer", [&](pqxx::work& tx) {
      PgParams().Int(now_ms - kRekognitionResponseTtlMs)
          .Exec(tx, "DELETE FROM rekognition_requests WHERE created_ms < $1");
      PgParams().Text(operation).Text(token).Text(response.request_sha).Text(response.response)
          .Int(now_ms)
          .Exec(tx, "INSERT INTO rekognition_requests(operation, token, request_sha, response, "
                    "created_ms) VALUES($1, $2, $3, $4, $5) ON CONFLICT (operation, token) DO "
                    "UPDATE SET request_sha = EXCLUDED.request_sha, response = EXCLUDED.response, "
                    "created_ms = EXCLUDED.created_ms");
    });
  }

 private:
  Result<std::vector<IndexedFace>> Faces(const std::string& what, const PgParams& params,
                                         const std::string& where) {
    using Found = std::vector<IndexedFace>;
    return client_.Run<Found>(what, [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      Found out;
      for (const auto& row : params.Exec(tx, kFaceColumns + where))
        out.push_back(FaceFromRow(row));
      return Result<Found>(std::move(out));
    });
  }

  Result<std::optional<IndexedFace>> OneFace(const std::string& what, const PgParams& params,
                                             const std::string& where) {
    ASSIGN_OR_RETURN(std::vector<IndexedFace> found, Faces(what, params, where));
    if (found.empty()) return std::optional<IndexedFace>();
    return std::optional<IndexedFace>(std::move(found.front()));
  }

  PgClient client_;
};

}  // namespace

Result<std::unique_ptr<RekognitionStore>> OpenPgRekognitionStore(const std::string& url) {
  return OpenPgBackend<RekognitionStore, PgRekognitionStore>(url);
}

}  // namespace concierge
