// Where a face collection lives on disk: persons, their faces (each with one
// embedding per model that made one) and their negative examples ("not me").
// FaceCollection keeps the searchable mirror in memory and writes through one
// of these; backends are SQLite (sqlite_face_repository.h) and PostgreSQL
// (pg_face_repository.h).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/types.h"

namespace concierge {

// One embedding model the collection searches with (EmbedderSpec::id, dims).
struct VectorSpace {
  std::string model;
  int dims = 0;
};

// The model name under which embeddings stored before models were recorded
// live; `concierge reindex` replaces them.
inline constexpr char kUnrecordedModel[] = "unrecorded";

// One stored vector (of a face or a negative) with its owner, for the mirror.
struct StoredVector {
  int64_t id = 0;  // the face's or the negative's id
  std::string person_id;
  std::string model;
  Embedding unit;  // unit length, as written
};

// What the mirror needs besides the face vectors, read in the same snapshot
// as them, so no face or negative refers to a person that is missing from it.
struct FaceSnapshot {
  std::vector<Person> persons;          // ordered by id
  std::vector<StoredVector> negatives;  // vectors of the requested models, by id
  int64_t face_count = 0;               // every face, whatever models it has vectors of
};

// One face as Load streams it: a vector of every requested model.
struct StoredFace {
  int64_t id = 0;
  std::string person_id;
  std::vector<Embedding> units;  // unit length, in the order of the requested spaces
};
// Takes each face in turn; may move its vectors away. An error stops the load.
using FaceVisitor = std::function<Status(StoredFace&)>;

// Groups rows ordered by face id, one per face and model, into the faces a
// FaceVisitor takes: what both backends' Load share. Not thread-safe.
class FaceRowGrouper {
 public:
  FaceRowGrouper(const std::vector<VectorSpace>& spaces, const FaceVisitor& visit);
  // The requested space of `model`, or null for a model not asked for.
  const VectorSpace* SpaceOf(std::string_view model) const;
  // Needs rows in face id order, `space` from SpaceOf and `unit` of its dims
  // (the backend checks). Passes the previous face on once the id changes.
  Status Add(int64_t face_id, std::string_view person_id, const VectorSpace* space, Embedding unit);
  // Passes the last face on.
  Status Finish();

 private:
  const std::vector<VectorSpace>& spaces_;
  const FaceVisitor& visit_;
  StoredFace face_;
  size_t have_ = 0;  // how many of face_'s units are filled
};

// A negative example as stored, for reindexing.
struct NegativeRecord {
  int64_t id = 0;
  std::string person_id;
  std::string model;
  std::string sighting_id;
  int64_t created_ms = 0;
};

// One collection's rows. Every write is atomic. Errors carry the backend's
// meaning: kAlreadyExists (duplicate id or external id), kNotFound (missing
// person), kIoError (locked, read-only, disk), kUnavailable (server gone).
// Thread safety: callers serialise writes; reads may run alongside them.
class FaceRepository {
 public:
  virtual ~FaceRepository() = default;

  // The collection these rows belong to.
  virtual const std::string& collection() const = 0;
  // Creates the collection if missing; writes nothing when it exists, so a
  // read-only store can serve an existing collection.
  virtual Status EnsureCollection() = 0;
  // A cheap token (the collection's change counter) that differs from an
  // earlier one whenever any writer (this process or another) committed a
  // change to this collection's persons, faces, vectors or negatives since,
  // and only then. Read it before Load().
  virtual Result<int64_t> ChangeToken() = 0;
  // In one snapshot: fills *head (persons, negatives of `spaces`' models,
  // face count), then passes each face that has a vector of every space to
  // `visit`, ordered by id; faces lacking one are left out. The faces are
  // streamed, never all held at once: a collection of 100k faces would hold
  // its vectors twice. kIoError for a vector whose length is not its space's
  // dims; visit's error is returned as it is.
  virtual Status Load(const std::vector<VectorSpace>& spaces, FaceSnapshot* head,
                      const FaceVisitor& visit) = 0;

  // Needs a validated person with a display name and created_ms set.
  virtual Status InsertPerson(const Person& person) = 0;
  // Stores the person's display name, external id and preferences; kNotFound if missing.
  virtual Status UpdatePerson(const Person& person) = 0;
  // Removes the person with their faces and negatives (none is no error).
  // Returns the distinct non-empty image keys of the removed faces, sorted.
  virtual Result<std::vector<std::string>> DeletePerson(const std::string& person_id) = 0;
  // In one transaction: the faces and negatives of `from` become `into`'s,
  // each face whose image key is a key of `image_keys` takes its value,
  // `from` is deleted, and `into` takes its external id if it had none. Returns how many faces moved; kNotFound (changing
  // nothing) when either person is missing.
  virtual Result<int64_t> MergePerson(const std::string& from, const std::string& into,
                                      const std::map<std::string, std::string>& image_keys) = 0;

  // Needs validated faces whose embeddings are unit length and whose
  // created_ms is set. All are stored or none; returns the ids in input order.
  virtual Result<std::vector<int64_t>> InsertFaces(const std::vector<FaceRecord>& faces) = 0;
  // The person's faces ordered by id, or with an empty id every face of the
  // collection; with every stored embedding.
  virtual Result<std::vector<FaceRecord>> ListFaces(const std::string& person_id) = 0;
  // Every picture the collection's faces use (their non-empty image keys),
  // once each, sorted.
  virtual Result<std::vector<std::string>> ListImageKeys() = 0;
  // Removes one face; false if this collection has no such face.
  virtual Result<bool> DeleteFace(int64_t face_id) = 0;
  // Makes `embeddings` (unit length) the face's only embeddings; false if
  // this collection has no such face.
  virtual Result<bool> ReplaceEmbeddings(int64_t face_id, const Descriptor& embeddings) = 0;
  // Clears the face's image key if it is still `image_key`; false otherwise.
  virtual Result<bool> ClearImageKey(int64_t face_id, const std::string& image_key) = 0;

  // Needs an existing person and unit embeddings; stores one negative per
  // embedding and returns their ids.
  virtual Result<std::vector<int64_t>> InsertNegatives(const std::string& person_id,
                                                       const Descriptor& embeddings,
                                                       const std::string& sighting_id,
                                                       int64_t created_ms) = 0;
  // Every negative of the collection, ordered by id.
  virtual Result<std::vector<NegativeRecord>> ListNegatives() = 0;
  // Removes one negative; false if this collection has no such negative.
  virtual Result<bool> DeleteNegative(int64_t negative_id) = 0;
};

// Opens the repository of the collection named, on a backend the caller chose.
using FaceRepositoryOpener =
    std::function<Result<std::unique_ptr<FaceRepository>>(const std::string& collection)>;

}  // namespace concierge
