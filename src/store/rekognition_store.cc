#include "store/rekognition_store.h"

#include "store/open_backend.h"

namespace concierge {

namespace {

constexpr char kFaceColumns[] =
    "SELECT face_uuid, collection, face_id, image_id, external_image_id, box_left, box_top, "
    "box_width, box_height, confidence, created_ms FROM rekognition_faces ";

IndexedFace FaceFromRow(const Statement& row) {
  IndexedFace f;
  f.face_uuid = row.ColumnText(0);
  f.collection = row.ColumnText(1);
  f.face_id = row.ColumnInt(2);
  f.image_id = row.ColumnText(3);
  f.external_image_id = row.ColumnText(4);
  f.left = static_cast<float>(row.ColumnDouble(5));
  f.top = static_cast<float>(row.ColumnDouble(6));
  f.width = static_cast<float>(row.ColumnDouble(7));
  f.height = static_cast<float>(row.ColumnDouble(8));
  f.confidence = static_cast<float>(row.ColumnDouble(9));
  f.created_ms = row.ColumnInt(10);
  return f;
}

class SqliteRekognitionStore final : public RekognitionStore {
 public:
  explicit SqliteRekognitionStore(Database* db) : db_(db) {}

  Status AddCollection(const std::string& id, int64_t created_ms) override {
    Status s = db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st, c.Prepare("INSERT INTO rekognition_collections(id, "
                                               "created_ms) VALUES(?, ?)"));
      return st.BindText(id).BindInt(created_ms).Run();
    });
    if (s.code() == Status::Code::kAlreadyExists) return CollectionExists(id);
    return s;
  }

  Status EnsureCollection(const std::string& id, int64_t created_ms) override {
    return db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st, c.Prepare("INSERT OR IGNORE INTO rekognition_collections(id, "
                                               "created_ms) VALUES(?, ?)"));
      return st.BindText(id).BindInt(created_ms).Run();
    });
  }

  Result<std::optional<CollectionEntry>> GetCollection(const std::string& id) override {
    std::optional<CollectionEntry> found;
    RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare("SELECT created_ms FROM rekognition_collections WHERE id = ?"));
      ASSIGN_OR_RETURN(const bool has_row, st.BindText(id).Step());
      if (has_row) found = CollectionEntry{id, st.ColumnInt(0)};
      return Status::Ok();
    }));
    return found;
  }

  Result<std::vector<CollectionEntry>> ListCollections(const std::string& after,
                                                       int limit) override {
    std::vector<CollectionEntry> out;
    RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st, c.Prepare("SELECT id, created_ms FROM "
                                               "rekognition_collections WHERE id > ? ORDER BY "
                                               "id LIMIT ?"));
      return st.BindText(after).BindInt(limit).ForEach([&](const Statement& row) {
        out.push_back({row.ColumnText(0), row.ColumnInt(1)});
        return Status::Ok();
      });
    }));
    return out;
  }

  Status RemoveCollection(const std::string& id) override {
    return db_->Transaction([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement faces,
                       c.Prepare("DELETE FROM rekognition_faces WHERE collection = ?"));
      RETURN_IF_ERROR(faces.BindText(id).Run());
      ASSIGN_OR_RETURN(Statement collection,
                       c.Prepare("DELETE FROM rekognition_collections WHERE id = ?"));
      return collection.BindText(id).Run();
    });
  }

  Status PutFace(const IndexedFace& f) override {
    return db_->WithConnection([&](Connection& c) -> Status {
      // OR REPLACE drops the rows holding this face_uuid or this face_id.
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare("INSERT OR REPLACE INTO rekognition_faces(face_uuid, "
                                 "collection, face_id, image_id, external_image_id, box_left, "
                                 "box_top, box_width, box_height, confidence, created_ms) "
                                 "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
      return st.BindText(f.face_uuid)
          .BindText(f.collection)
          .BindInt(f.face_id)
          .BindText(f.image_id)
          .BindText(f.external_image_id)
          .BindDouble(f.left)
          .BindDouble(f.top)
          .BindDouble(f.width)
          .BindDouble(f.height)
          .BindDouble(f.confidence)
          .BindInt(f.created_ms)
          .Run();
    });
  }

  Result<std::optional<IndexedFace>> FaceByUuid(const std::string& collection,
                                                const std::string& face_uuid) override {
    std::optional<IndexedFace> found;
    RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st, c.Prepare(std::string(kFaceColumns) +
                                               "WHERE collection = ? AND face_uuid = ?"));
      ASSIGN_OR_RETURN(const bool has_row, st.BindText(collection).BindText(face_uuid).Step());
      if (has_row) found = FaceFromRow(st);
      return Status::Ok();
    }));
    return found;
  }

  Result<std::optional<IndexedFace>> FaceByRow(const std::string& collection,
                                               int64_t face_id) override {
    std::optional<IndexedFace> found;
    RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st, c.Prepare(std::string(kFaceColumns) +
                                               "WHERE collection = ? AND face_id = ?"));
      ASSIGN_OR_RETURN(const bool has_row, st.BindText(collection).BindInt(face_id).Step());
      if (has_row) found = FaceFromRow(st);
      return Status::Ok();
    }));
    return found;
  }

  Result<std::vector<IndexedFace>> FacesOf(const std::string& collection) override {
    std::vector<IndexedFace> out;
    RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st, c.Prepare(std::string(kFaceColumns) +
                                               "WHERE collection = ? ORDER BY face_id"));
      return st.BindText(collection).ForEach([&](const Statement& row) {
        out.push_back(FaceFromRow(row));
        return Status::Ok();
      });
    }));
    return out;
  }

  Result<std::vector<IndexedFace>> FacesOfImage(const std::string& collection,
                                                const std::string& image_id) override {
    std::vector<IndexedFace> out;
    RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare(std::string(kFaceColumns) +
                                 "WHERE collection = ? AND image_id = ? ORDER BY created_ms, "
                                 "face_uuid"));
      return st.BindText(collection).BindText(image_id).ForEach([&](const Statement& row) {
        out.push_back(FaceFromRow(row));
        return Status::Ok();
      });
    }));
    return out;
  }

  Status RemoveFaceRow(int64_t face_id) override {
    return db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare("DELETE FROM rekognition_faces WHERE face_id = ?"));
      return st.BindInt(face_id).Run();
    });
  }

  Result<std::optional<StoredResponse>> FindResponse(const std::string& operation,
                                                     const std::string& token) override {
    std::optional<StoredResponse> found;
    RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st, c.Prepare("SELECT request_sha, response FROM "
                                               "rekognition_requests WHERE operation = ? AND "
                                               "token = ?"));
      ASSIGN_OR_RETURN(const bool has_row, st.BindText(operation).BindText(token).Step());
      if (has_row) found = StoredResponse{st.ColumnText(0), st.ColumnText(1)};
      return Status::Ok();
    }));
    return found;
  }

  Status KeepResponse(const std::string& operation, const std::string& token,
                      const StoredResponse& response, int64_t now_ms) override {
    return db_->Transaction([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement prune,
                       c.Prepare("DELETE FROM rekognition_requests WHERE created_ms < ?"));
      RETURN_IF_ERROR(prune.BindInt(now_ms - kRekognitionResponseTtlMs).Run());
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare("INSERT OR REPLACE INTO rekognition_requests(operation, token, "
                                 "request_sha, response, created_ms) VALUES(?, ?, ?, ?, ?)"));
      return st.BindText(operation)
          .BindText(token)
          .BindText(response.request_sha)
          .BindText(response.response)
          .BindInt(now_ms)
          .Run();
    });
  }

 private:
  Database* const db_;
};

}  // namespace

Status RekognitionStore::CollectionExists(const std::string& id) {
  return Status::AlreadyExists("collection '" + id + "' exists");
}

std::unique_ptr<RekognitionStore> NewSqliteRekognitionStore(Database* db) {
  return std::make_unique<SqliteRekognitionStore>(db);
}

Result<std::unique_ptr<RekognitionStore>> OpenRekognitionStore(const DatabaseConfig& config,
                                                               Database* sqlite) {
  return OpenBackend<RekognitionStore>(config, sqlite, OpenPgRekognitionStore,
                                       NewSqliteRekognitionStore);
}

}  // namespace concierge
