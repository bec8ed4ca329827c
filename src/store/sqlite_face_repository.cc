#include "store/sqlite_face_repository.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <utility>

#include "core/clock.h"
#include "core/person_preferences.h"

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
    ASSIGN_OR_RETURN(const int64_t version,
                     db_->WithConnection([&](Connection& c) { return Version(c, collection_); }));
    return version - own_writes_;
  }

  Status Load(const std::vector<VectorSpace>& spaces, FaceSnapshot* head,
              const FaceVisitor& visit) override {
    *head = {};
    return db_->ReadTransaction([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement persons,
                       c.Prepare("SELECT id, display_name, external_id, created_ms, preferences "
                                 "FROM persons WHERE collection = ? ORDER BY id"));
      RETURN_IF_ERROR(persons.BindText(collection_).ForEach([&](const Statement& row) -> Status {
        ASSIGN_OR_RETURN(PersonPreferences preferences,
                         ParsePersonPreferencesText(row.ColumnText(4)));
        head->persons.push_back({row.ColumnText(0), row.ColumnText(1), row.ColumnText(2),
                                 row.ColumnInt(3), std::move(preferences)});
        return Status::Ok();
      }));
      ASSIGN_OR_RETURN(Statement count, c.Prepare("SELECT COUNT(*) FROM faces WHERE collection = ?"));
      ASSIGN_OR_RETURN(const bool counted, count.BindText(collection_).Step());
      head->face_count = counted ? count.ColumnInt(0) : 0;
      for (const VectorSpace& space : spaces) {
        ASSIGN_OR_RETURN(Statement negatives,
                         c.Prepare("SELECT id, person_id, model, dims, embedding FROM face_negatives "
                                   "WHERE collection = ? AND model = ?"));
        RETURN_IF_ERROR(negatives.BindText(collection_).BindText(space.model).ForEach(
            [&](const Statement& row) -> Status {
              ASSIGN_OR_RETURN(Embedding unit, ReadVector(row, space));
              head->negatives.push_back(
                  {row.ColumnInt(0), row.ColumnText(1), space.model, std::move(unit)});
              return Status::Ok();
            }));
      }
      std::stable_sort(head->negatives.begin(), head->negatives.end(),
                       [](const StoredVector& a, const StoredVector& b) { return a.id < b.id; });
      if (spaces.empty()) return Status::Ok();
      // faces drives the join in id (rowid) order, so SQLite streams the rows
      // instead of sorting them all in a temporary b-tree first ("+" keeps it
      // off the (collection, person_id) index, whose order is not the ids').
      std::string models = "?";
      for (size_t i = 1; i < spaces.size(); ++i) models += ", ?";
      ASSIGN_OR_RETURN(Statement faces,
                       c.Prepare("SELECT f.id, f.person_id, e.model, e.dims, e.embedding FROM faces f "
                                 "CROSS JOIN face_embeddings e ON e.face_id = f.id "
                                 "WHERE +f.collection = ? AND e.model IN (" + models + ") ORDER BY f.id"));
      faces.BindText(collection_);
      for (const VectorSpace& space : spaces) faces.BindText(space.model);
      FaceRowGrouper grouper(spaces, visit);
      RETURN_IF_ERROR(faces.ForEach([&](const Statement& row) -> Status {
        const VectorSpace* space = grouper.SpaceOf(row.ColumnText(2));
        if (space == nullptr) return Status::Ok();
        ASSIGN_OR_RETURN(Embedding unit, ReadVector(row, *space));
        return grouper.Add(row.ColumnInt(0), row.ColumnText(1), space, std::move(unit));
      }));
      return grouper.Finish();
    });
  }

  Status InsertPerson(const Person& p) override {
    return Write([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare("INSERT INTO persons(collection, id, display_name, external_id, "
                                 "created_ms, preferences) VALUES(?, ?, ?, ?, ?, ?)"));
      return st.BindText(collection_)
          .BindText(p.id)
          .BindText(p.display_name)
          .BindText(p.external_id)
          .BindInt(p.created_ms)
          .BindText(PersonPreferencesText(p.preferences))
          .Run();
    });
  }

  Status UpdatePerson(const Person& p) override {
    return Write([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare("UPDATE persons SET display_name = ?, external_id = ?, "
                                 "preferences = ? WHERE collection = ? AND id = ?"));
      RETURN_IF_ERROR(st.BindText(p.display_name).BindText(p.external_id)
                          .BindText(PersonPreferencesText(p.preferences)).BindText(collection_)
                          .BindText(p.id).Run());
      if (c.Changes() == 0) return MissingPerson(p.id);
      return Status::Ok();
    });
  }

  Result<std::vector<std::string>> DeletePerson(const std::string& id) override {
    std::vector<std::string> image_keys;
    RETURN_IF_ERROR(Write([&](Connection& c) -> Status {
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

  Result<int64_t> MergePerson(const std::string& from, const std::string& into,
                              const std::map<std::string, std::string>& image_keys) override {
    int64_t moved = 0;
    RETURN_IF_ERROR(Write([&](Connection& c) -> Status {
      for (const std::string& id : {from, into}) {
        ASSIGN_OR_RETURN(Statement find,
                         c.Prepare("SELECT 1 FROM persons WHERE collection = ? AND id = ?"));
        ASSIGN_OR_RETURN(const bool found, find.BindText(collection_).BindText(id).Step());
        if (!found) return MissingPerson(id);
      }
      for (const auto& [old_key, new_key] : image_keys) {
        ASSIGN_OR_RETURN(Statement rekey,
                         c.Prepare("UPDATE faces SET image_key = ? WHERE collection = ? AND "
                                   "person_id = ? AND image_key = ?"));
        RETURN_IF_ERROR(
            rekey.BindText(new_key).BindText(collection_).BindText(from).BindText(old_key).Run());
      }
      ASSIGN_OR_RETURN(Statement faces, c.Prepare("UPDATE faces SET person_id = ? WHERE "
                                                  "collection = ? AND person_id = ?"));
      RETURN_IF_ERROR(faces.BindText(into).BindText(collection_).BindText(from).Run());
      moved = c.Changes();
      ASSIGN_OR_RETURN(Statement negatives,
                       c.Prepare("UPDATE face_negatives SET person_id = ? WHERE collection = ? "
                                 "AND person_id = ?"));
      RETURN_IF_ERROR(negatives.BindText(into).BindText(collection_).BindText(from).Run());
      ASSIGN_OR_RETURN(Statement external,
                       c.Prepare("SELECT external_id FROM persons WHERE collection = ? AND id = ?"));
      ASSIGN_OR_RETURN(const bool has_row, external.BindText(collection_).BindText(from).Step());
      const std::string external_id = has_row ? external.ColumnText(0) : "";
      ASSIGN_OR_RETURN(Statement del,
                       c.Prepare("DELETE FROM persons WHERE collection = ? AND id = ?"));
      RETURN_IF_ERROR(del.BindText(collection_).BindText(from).Run());
      ASSIGN_OR_RETURN(Statement take,
                       c.Prepare("UPDATE persons SET external_id = ? WHERE collection = ? AND "
                                 "id = ? AND external_id = ''"));
      return take.BindText(external_id).BindText(collection_).BindText(into).Run();
    }));
    return moved;
  }

  Result<std::vector<int64_t>> InsertFaces(const std::vector<FaceRecord>& faces) override {
    std::vector<int64_t> ids;
    ids.reserve(faces.size());
    RETURN_IF_ERROR(Write([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare("INSERT INTO faces(collection, person_id, image_key, box_x, "
                                 "box_y, box_w, box_h, quality, origin, sighting_id, created_ms) "
                                 "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
      for (const FaceRecord& f : faces) {
        st.Reset();
        RETURN_IF_ERROR(st.BindText(collection_)
                            .BindText(f.person_id)
                            .BindText(f.image_key)
                            .BindDouble(f.box.x)
                            .BindDouble(f.box.y)
                            .BindDouble(f.box.w)
                            .BindDouble(f.box.h)
                            .BindDouble(f.quality)
                            .BindText(ToString(f.origin))
                            .BindText(f.sighting_id)
                            .BindInt(f.created_ms)
                            .Run());
        ids.push_back(c.LastInsertId());
        RETURN_IF_ERROR(InsertEmbeddings(c, ids.back(), f.embeddings));
      }
      return Status::Ok();
    }));
    return ids;
  }

  Result<std::vector<FaceRecord>> ListFaces(const std::string& person_id) override {
    std::vector<FaceRecord> out;
    RETURN_IF_ERROR(db_->ReadTransaction([&](Connection& c) -> Status {
      // Two statements, not "(? = '' OR person_id = ?)": SQLite plans that
      // as a scan of the whole collection, once per person for retention.
      const std::string columns =
          "SELECT id, person_id, image_key, box_x, box_y, box_w, box_h, quality, origin, "
          "sighting_id, created_ms FROM faces WHERE collection = ? ";
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare(columns + (person_id.empty() ? "ORDER BY id"
                                                              : "AND person_id = ? ORDER BY id")));
      st.BindText(collection_);
      if (!person_id.empty()) st.BindText(person_id);
      RETURN_IF_ERROR(st.ForEach(
          [&](const Statement& row) {
            FaceRecord f;
            f.id = row.ColumnInt(0);
            f.person_id = row.ColumnText(1);
            f.collection = collection_;
            f.image_key = row.ColumnText(2);
            f.box = {static_cast<float>(row.ColumnDouble(3)), static_cast<float>(row.ColumnDouble(4)),
                     static_cast<float>(row.ColumnDouble(5)), static_cast<float>(row.ColumnDouble(6))};
            f.quality = static_cast<float>(row.ColumnDouble(7));
            ParseFaceOrigin(row.ColumnText(8), &f.origin);
            f.sighting_id = row.ColumnText(9);
            f.created_ms = row.ColumnInt(10);
            out.push_back(std::move(f));
            return Status::Ok();
          }));
      ASSIGN_OR_RETURN(Statement emb, c.Prepare("SELECT model, embedding FROM face_embeddings "
                                                "WHERE face_id = ? ORDER BY model"));
      for (FaceRecord& f : out) {
        emb.Reset();
        RETURN_IF_ERROR(emb.BindInt(f.id).ForEach([&](const Statement& row) -> Status {
          const std::string_view blob = row.ColumnBlob(1);
          if (blob.size() % sizeof(float) != 0) return Corrupt(f.id);
          Embedding v(blob.size() / sizeof(float));
          std::memcpy(v.data(), blob.data(), blob.size());
          f.embeddings.push_back({row.ColumnText(0), std::move(v)});
          return Status::Ok();
        }));
      }
      return Status::Ok();
    }));
    return out;
  }

  Result<std::vector<std::string>> ListImageKeys() override {
    std::vector<std::string> keys;
    RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare("SELECT DISTINCT image_key FROM faces WHERE collection = ? AND "
                                 "image_key <> '' ORDER BY image_key"));
      return st.BindText(collection_).ForEach([&](const Statement& row) {
        keys.push_back(row.ColumnText(0));
        return Status::Ok();
      });
    }));
    return keys;
  }

  Result<bool> DeleteFace(int64_t face_id) override {
    bool deleted = false;
    RETURN_IF_ERROR(Write([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare("DELETE FROM faces WHERE id = ? AND collection = ?"));
      RETURN_IF_ERROR(st.BindInt(face_id).BindText(collection_).Run());
      deleted = c.Changes() > 0;
      return Status::Ok();
    }));
    return deleted;
  }

  Result<bool> ReplaceEmbeddings(int64_t face_id, const Descriptor& embeddings) override {
    bool found = false;
    RETURN_IF_ERROR(Write([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement exists,
                       c.Prepare("SELECT 1 FROM faces WHERE id = ? AND collection = ?"));
      ASSIGN_OR_RETURN(found, exists.BindInt(face_id).BindText(collection_).Step());
      if (!found) return Status::Ok();
      ASSIGN_OR_RETURN(Statement del, c.Prepare("DELETE FROM face_embeddings WHERE face_id = ?"));
      RETURN_IF_ERROR(del.BindInt(face_id).Run());
      return InsertEmbeddings(c, face_id, embeddings);
    }));
    return found;
  }

  Result<bool> ClearImageKey(int64_t face_id, const std::string& image_key) override {
    bool cleared = false;
    RETURN_IF_ERROR(Write([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare("UPDATE faces SET image_key = '', box_w = 0 "
                                 "WHERE id = ? AND collection = ? AND image_key = ?"));
      RETURN_IF_ERROR(st.BindInt(face_id).BindText(collection_).BindText(image_key).Run());
      cleared = c.Changes() > 0;
      return Status::Ok();
    }));
    return cleared;
  }

  Result<std::vector<int64_t>> InsertNegatives(const std::string& person_id,
                                               const Descriptor& embeddings,
                                               const std::string& sighting_id,
                                               int64_t created_ms) override {
    std::vector<int64_t> ids;
    RETURN_IF_ERROR(Write([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare("INSERT INTO face_negatives(collection, person_id, model, "
                                 "embedding, dims, sighting_id, created_ms) "
                                 "VALUES(?, ?, ?, ?, ?, ?, ?)"));
      for (const ModelEmbedding& e : embeddings) {
        st.Reset();
        RETURN_IF_ERROR(st.BindText(collection_)
                            .BindText(person_id)
                            .BindText(e.model)
                            .BindBlob(Bytes(e.vector), ByteSize(e.vector))
                            .BindInt(static_cast<int64_t>(e.vector.size()))
                            .BindText(sighting_id)
                            .BindInt(created_ms)
                            .Run());
        ids.push_back(c.LastInsertId());
      }
      return Status::Ok();
    }));
    return ids;
  }

  Result<std::vector<NegativeRecord>> ListNegatives() override {
    std::vector<NegativeRecord> out;
    RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare("SELECT id, person_id, model, sighting_id, created_ms FROM "
                                 "face_negatives WHERE collection = ? ORDER BY id"));
      return st.BindText(collection_).ForEach([&](const Statement& row) {
        out.push_back({row.ColumnInt(0), row.ColumnText(1), row.ColumnText(2), row.ColumnText(3),
                       row.ColumnInt(4)});
        return Status::Ok();
      });
    }));
    return out;
  }

  Result<bool> DeleteNegative(int64_t negative_id) override {
    bool deleted = false;
    RETURN_IF_ERROR(Write([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement st,
                       c.Prepare("DELETE FROM face_negatives WHERE id = ? AND collection = ?"));
      RETURN_IF_ERROR(st.BindInt(negative_id).BindText(collection_).Run());
      deleted = c.Changes() > 0;
      return Status::Ok();
    }));
    return deleted;
  }

 private:
  static Result<int64_t> Version(Connection& c, const std::string& collection) {
    ASSIGN_OR_RETURN(Statement st, c.Prepare("SELECT version FROM collections WHERE name = ?"));
    ASSIGN_OR_RETURN(const bool has_row, st.BindText(collection).Step());
    return has_row ? st.ColumnInt(0) : int64_t{0};
  }

  // Runs `fn` in one write transaction and counts the versions its rows
  // bumped (migration 16's triggers) as this repository's own, which are not
  // news to its owner.
  Status Write(const std::function<Status(Connection&)>& fn) {
    int64_t bumped = 0;
    RETURN_IF_ERROR(db_->Transaction([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(const int64_t before, Version(c, collection_));
      RETURN_IF_ERROR(fn(c));
      ASSIGN_OR_RETURN(const int64_t after, Version(c, collection_));
      bumped = after - before;
      return Status::Ok();
    }));
    own_writes_ += bumped;
    return Status::Ok();
  }

  static Status InsertEmbeddings(Connection& c, int64_t face_id, const Descriptor& embeddings) {
    ASSIGN_OR_RETURN(Statement st, c.Prepare("INSERT INTO face_embeddings(face_id, model, dims, "
                                             "embedding) VALUES(?, ?, ?, ?)"));
    for (const ModelEmbedding& e : embeddings) {
      st.Reset();
      RETURN_IF_ERROR(st.BindInt(face_id)
                          .BindText(e.model)
                          .BindInt(static_cast<int64_t>(e.vector.size()))
                          .BindBlob(Bytes(e.vector), ByteSize(e.vector))
                          .Run());
    }
    return Status::Ok();
  }

  // Columns 3 and 4 of `row`: a vector of `space` (its dims, then the blob).
  Result<Embedding> ReadVector(const Statement& row, const VectorSpace& space) const {
    const size_t blob_bytes = static_cast<size_t>(space.dims) * sizeof(float);
    const std::string_view blob = row.ColumnBlob(4);
    if (row.ColumnInt(3) != space.dims || blob.size() != blob_bytes) return Corrupt(row.ColumnInt(0));
    Embedding unit(static_cast<size_t>(space.dims));
    std::memcpy(unit.data(), blob.data(), blob_bytes);
    return unit;
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
  std::atomic<int64_t> own_writes_{0};  // versions bumped by Write()
};

}  // namespace

std::unique_ptr<FaceRepository> NewSqliteFaceRepository(Database* db, std::string collection) {
  return std::make_unique<SqliteFaceRepository>(db, std::move(collection));
}

}  // namespace concierge
