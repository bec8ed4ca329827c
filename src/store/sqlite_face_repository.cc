#include "store/sqlite_face_repository.h"

#include <cstring>
#include <utility>

#include "core/clock.h"

namespace concierge {

namespace {

std::string Quoted(const std::string& s) { return "'" + s + "'"; }

const void* Bytes(const Embedding& v) { return v.data(); }
size_t ByteSize(const Embedding& v) { return v.size() * sizeof(float); }

class SqliteFaceRepository final : public FaceRepository {
 public:
  SqliteFaceRepository(Database* db, std::string collection)
      : db_(db), collection_(std::move(collection)) {}

  const std::string& collection() const override { return collection_; }

  Status EnsureCollection() override {
    bool exists = false;
    RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st, c.Prepare("SELECT 1 FROM collections WHERE name = ?"));
      ASSIGN_OR_RETURN(exists, st.BindText(collection_).Step());
      return Status::Ok();
    }));
    if (exists) return Status::Ok();
    return db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(
          Statement st,
          c.Prepare("INSERT OR IGNORE INTO collections(name, created_ms) VALUES(?, ?)"));
      return st.BindText(collection_).BindInt(NowMs()).Run();
    });
  }

  Result<int64_t> ChangeToken() override {
    return db_->WithConnection([](Connection& c) -> Result<int64_t> {
      ASSIGN_OR_RETURN(Statement st, c.Prepare("PRAGMA data_version"));
      ASSIGN_OR_RETURN(const bool has_row, st.Step());
      return has_row ? st.ColumnInt(0) : int64_t{0};
    });
  }

  Result<FaceSnapshot> Load(int dims) override {
    FaceSnapshot snap;
    RETURN_IF_ERROR(db_->ReadTransaction([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement persons,
                       c.Prepare("SELECT id, display_name, external_id, created_ms FROM persons "
                                 "WHERE collection = ? ORDER BY id"));
      RETURN_IF_ERROR(persons.BindText(collection_).ForEach([&](const Statement& row) {
        snap.persons.push_back(
            {row.ColumnText(0), row.ColumnText(1), row.ColumnText(2), row.ColumnInt(3)});
        return Status::Ok();
      }));
      RETURN_IF_ERROR(LoadVectors(c, "faces", dims, &snap.faces));
      return LoadVectors(c, "face_negatives", dims, &snap.negatives);
    }));
    return snap;
  }

  Status InsertPerson(const Person& p) override {
    return db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare("INSERT INTO persons(collection, id, display_name, external_id, "
                                 "created_ms) VALUES(?, ?, ?, ?, ?)"));
      return st.BindText(collection_)
          .BindText(p.id)
          .BindText(p.display_name)
          .BindText(p.external_id)
          .BindInt(p.created_ms)
          .Run();
    });
  }

  Status UpdatePerson(const Person& p) override {
    return db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st, c.Prepare("UPDATE persons SET display_name = ?, "
                                               "external_id = ? WHERE collection = ? AND id = ?"));
      RETURN_IF_ERROR(
          st.BindText(p.display_name).BindText(p.external_id).BindText(collection_).BindText(p.id)
              .Run());
      if (c.Changes() == 0) return MissingPerson(p.id);
      return Status::Ok();
    });
  }

  Result<std::vector<std::string>> DeletePerson(const std::string& id) override {
    std::vector<std::string> image_keys;
    RETURN_IF_ERROR(db_->Transaction([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement keys,
                       c.Prepare("SELECT DISTINCT image_key FROM faces WHERE collection = ? AND "
                                 "person_id = ? AND image_key <> '' ORDER BY image_key"));
      RETURN_IF_ERROR(keys.BindText(collection_).BindText(id).ForEach([&](const Statement& row) {
        image_keys.push_back(row.ColumnText(0));
        return Status::Ok();
      }));
      // Faces and negatives go with the person (ON DELETE CASCADE).
      ASSIGN_OR_RETURN(Statement del,
                       c.Prepare("DELETE FROM persons WHERE collection = ? AND id = ?"));
      return del.BindText(collection_).BindText(id).Run();
    }));
    return image_keys;
  }

  Result<std::vector<int64_t>> InsertFaces(const std::vector<FaceRecord>& faces) override {
    std::vector<int64_t> ids;
    ids.reserve(faces.size());
    RETURN_IF_ERROR(db_->Transaction([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare("INSERT INTO faces(collection, person_id, embedding, dims, "
                                 "image_key, quality, origin, created_ms) "
                                 "VALUES(?, ?, ?, ?, ?, ?, ?, ?)"));
      for (const FaceRecord& f : faces) {
        st.Reset();
        RETURN_IF_ERROR(st.BindText(collection_)
                            .BindText(f.person_id)
                            .BindBlob(Bytes(f.embedding), ByteSize(f.embedding))
                            .BindInt(static_cast<int64_t>(f.embedding.size()))
                            .BindText(f.image_key)
                            .BindDouble(f.quality)
                            .BindText(ToString(f.origin))
                            .BindInt(f.created_ms)
                            .Run());
        ids.push_back(c.LastInsertId());
      }
      return Status::Ok();
    }));
    return ids;
  }

  Result<std::vector<FaceRecord>> ListFaces(const std::string& person_id) override {
    std::vector<FaceRecord> out;
    RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare("SELECT id, embedding, image_key, quality, origin, created_ms "
                                 "FROM faces WHERE collection = ? AND person_id = ? ORDER BY id"));
      return st.BindText(collection_).BindText(person_id).ForEach([&](const Statement& row) {
        const std::string_view blob = row.ColumnBlob(1);
        if (blob.size() % sizeof(float) != 0) return Corrupt(row.ColumnInt(0));
        FaceRecord f;
        f.id = row.ColumnInt(0);
        f.person_id = person_id;
        f.collection = collection_;
        f.embedding.resize(blob.size() / sizeof(float));
        std::memcpy(f.embedding.data(), blob.data(), blob.size());
        f.image_key = row.ColumnText(2);
        f.quality = static_cast<float>(row.ColumnDouble(3));
        f.origin = row.ColumnText(4) == "tagged" ? FaceOrigin::kTagged : FaceOrigin::kEnrolled;
        f.created_ms = row.ColumnInt(5);
        out.push_back(std::move(f));
        return Status::Ok();
      });
    }));
    return out;
  }

  Result<bool> DeleteFace(int64_t face_id) override {
    return db_->WithConnection([&](Connection& c) -> Result<bool> {
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare("DELETE FROM faces WHERE id = ? AND collection = ?"));
      RETURN_IF_ERROR(st.BindInt(face_id).BindText(collection_).Run());
      return c.Changes() > 0;
    });
  }

  Result<int64_t> InsertNegative(const std::string& person_id, const Embedding& unit,
                                 const std::string& sighting_id, int64_t created_ms) override {
    return db_->WithConnection([&](Connection& c) -> Result<int64_t> {
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare("INSERT INTO face_negatives(collection, person_id, embedding, "
                                 "dims, sighting_id, created_ms) VALUES(?, ?, ?, ?, ?, ?)"));
      RETURN_IF_ERROR(st.BindText(collection_)
                          .BindText(person_id)
                          .BindBlob(Bytes(unit), ByteSize(unit))
                          .BindInt(static_cast<int64_t>(unit.size()))
                          .BindText(sighting_id)
                          .BindInt(created_ms)
                          .Run());
      return c.LastInsertId();
    });
  }

 private:
  // Reads id, person, embedding of every row of `table` in this collection.
  Status LoadVectors(Connection& c, const std::string& table, int dims,
                     std::vector<StoredVector>* out) {
    ASSIGN_OR_RETURN(Statement st, c.Prepare("SELECT id, person_id, dims, embedding FROM " +
                                             table + " WHERE collection = ? ORDER BY id"));
    const size_t blob_bytes = static_cast<size_t>(dims) * sizeof(float);
    return st.BindText(collection_).ForEach([&](const Statement& row) -> Status {
      if (row.ColumnInt(2) != dims)
        return Status::FailedPrecondition(
            "collection " + Quoted(collection_) + " holds " + std::to_string(row.ColumnInt(2)) +
            "-d embeddings but the model makes " + std::to_string(dims) +
            "-d ones; re-enrol into a new collection");
      const std::string_view blob = row.ColumnBlob(3);
      if (blob.size() != blob_bytes) return Corrupt(row.ColumnInt(0));
      StoredVector v{row.ColumnInt(0), row.ColumnText(1), Embedding(static_cast<size_t>(dims))};
      std::memcpy(v.unit.data(), blob.data(), blob_bytes);
      out->push_back(std::move(v));
      return Status::Ok();
    });
  }

  Status Corrupt(int64_t id) const {
    return Status::IoError("corrupt embedding of row " + std::to_string(id) + " in " +
                           db_->path());
  }
  Status MissingPerson(const std::string& id) const {
    return Status::NotFound("person " + Quoted(id) + " not found in collection " +
                            Quoted(collection_));
  }

  Database* const db_;
  const std::string collection_;
};

}  // namespace

std::unique_ptr<FaceRepository> NewSqliteFaceRepository(Database* db, std::string collection) {
  return std::make_unique<SqliteFaceRepository>(db, std::move(collection));
}

}  // namespace concierge
