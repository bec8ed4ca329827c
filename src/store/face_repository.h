// Where a face collection lives on disk: persons, their face embeddings and
// their negative examples ("not me"). FaceCollection keeps the searchable
// mirror in memory and writes through one of these; backends are SQLite
// (sqlite_face_repository.h) and PostgreSQL (pg_face_repository.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/types.h"

namespace concierge {

// One stored vector (a face or a negative) with its owner, for the mirror.
struct StoredVector {
  int64_t id = 0;
  std::string person_id;
  Embedding unit;  // unit length, as written
};

// Everything the mirror needs, read in one snapshot so no face or negative
// refers to a person that is missing from it.
struct FaceSnapshot {
  std::vector<Person> persons;        // ordered by id
  std::vector<StoredVector> faces;    // ordered by id
  std::vector<StoredVector> negatives;  // ordered by id
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
  // A cheap token that differs from an earlier one whenever another writer
  // (process or connection) committed a change to this collection since; it
  // may also change for unrelated writes. Read it before Load().
  virtual Result<int64_t> ChangeToken() = 0;
  // The whole collection. kFailedPrecondition when stored embeddings are not
  // `dims` long (the model changed); kIoError for a corrupt embedding.
  virtual Result<FaceSnapshot> Load(int dims) = 0;

  // Needs a validated person with a display name and created_ms set.
  virtual Status InsertPerson(const Person& person) = 0;
  // Stores the person's display name and external id; kNotFound if missing.
  virtual Status UpdatePerson(const Person& person) = 0;
  // Removes the person with their faces and negatives (none is no error).
  // Returns the distinct non-empty image keys of the removed faces, sorted.
  virtual Result<std::vector<std::string>> DeletePerson(const std::string& person_id) = 0;

  // Needs validated faces whose embeddings are unit length and whose
  // created_ms is set. All are stored or none; returns the ids in input order.
  virtual Result<std::vector<int64_t>> InsertFaces(const std::vector<FaceRecord>& faces) = 0;
  // The person's faces ordered by id (embeddings as stored).
  virtual Result<std::vector<FaceRecord>> ListFaces(const std::string& person_id) = 0;
  // Removes one face; false if this collection has no such face.
  virtual Result<bool> DeleteFace(int64_t face_id) = 0;

  // Needs an existing person and a unit embedding; returns the negative's id.
  virtual Result<int64_t> InsertNegative(const std::string& person_id, const Embedding& unit,
                                         const std::string& sighting_id, int64_t created_ms) = 0;
};

}  // namespace concierge
