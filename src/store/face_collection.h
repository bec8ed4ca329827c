// A named face collection: persons, their face embeddings and their negative
// examples, stored through a FaceRepository (SQLite or PostgreSQL) and mirrored
// in memory as one contiguous matrix for exact search.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "core/types.h"
#include "store/database.h"
#include "store/face_repository.h"

namespace concierge {

enum class SearchMode {
  kBestFace,  // a person scores their best face
  kCentroid,  // a person scores the normalised mean of their faces
};

// Accepts "best" or "centroid" (RecognitionConfig::search_mode); else kInvalidArgument.
Result<SearchMode> ParseSearchMode(const std::string& text);

// OK when `id` can name a person or collection: 1..128 chars of [A-Za-z0-9._-],
// not "." or "..", so it is safe inside object keys such as known/<person>/...
Status ValidateStoreId(const std::string& id);

// Thread safety: any number of concurrent readers (Search, Get*, List*,
// size) with writers serialised among themselves. Writers go to the database
// first and change memory only after the database accepted the change, so a
// failed write leaves both untouched; readers are blocked only while memory
// changes, never during database I/O.
// The memory mirror reflects this process's writes at once; changes made by
// another process to the same collection are seen after Refresh().
class FaceCollection {
 public:
  // Needs a repository for a valid collection name and 1 <= dims <= 65536.
  // Creates the collection if missing (read-only stores work when it exists)
  // and loads every embedding. Stored faces of another dimension yield
  // kFailedPrecondition (the model changed).
  static Result<std::unique_ptr<FaceCollection>> Open(std::unique_ptr<FaceRepository> repository,
                                                      int dims);
  // Open() on the SQLite repository of `db`, which must outlive the collection.
  static Result<std::unique_ptr<FaceCollection>> Open(Database* db, const std::string& collection,
                                                      int dims);

  // Reloads the mirror if another process changed the collection since the
  // last load (a cheap check otherwise); returns whether it reloaded. On error
  // the mirror is left as it was.
  Result<bool> Refresh();

  // Needs a valid id; an empty display name becomes the id and created_ms 0
  // becomes now. kAlreadyExists if the id or the external id is taken.
  Status AddPerson(const Person& person);
  // The person, or kNotFound naming the id.
  Result<Person> GetPerson(const std::string& id) const;
  // Every person, ordered by id.
  Result<std::vector<Person>> ListPersons() const;
  // Sets a non-empty display name; kNotFound for an unknown id.
  Status RenamePerson(const std::string& id, const std::string& display_name);
  // Sets (or with "" clears) the external id; kAlreadyExists if another person has it.
  Status SetExternalId(const std::string& id, const std::string& external_id);
  // The person with this non-empty external id, or kNotFound.
  Result<Person> FindByExternalId(const std::string& external_id) const;

  // Needs an existing person (else kNotFound) and a finite, non-zero
  // embedding of dims() values (else kInvalidArgument); face.id is ignored and
  // face.collection must be empty or this collection. Stores the embedding
  // scaled to unit length and returns the new face id.
  Result<int64_t> AddFace(const FaceRecord& face);
  // AddFace for many faces in one transaction: all are added or none.
  // Returns the new ids in input order.
  Result<std::vector<int64_t>> AddFaces(const std::vector<FaceRecord>& faces);
  // The person's faces (with embeddings) ordered by id; kNotFound for an unknown person.
  Result<std::vector<FaceRecord>> ListFaces(const std::string& person_id) const;
  // Removes one face of this collection; kNotFound if it is not here.
  Status DeleteFace(int64_t face_id);
  // Removes the person with all their faces and negatives. Returns the
  // distinct non-empty image keys of the removed faces so the caller can
  // delete those pictures.
  Result<std::vector<std::string>> ForgetPerson(const std::string& id);

  // Needs an existing person (else kNotFound) and a finite, non-zero embedding
  // of dims() values (else kInvalidArgument). Stores it as a "not me" example:
  // from then on Search never returns the person for a probe whose cosine to
  // one of their negatives is at least its score for them. `sighting_id` (may
  // be empty) records where the example came from.
  Status AddNegative(const std::string& person_id, const Embedding& e,
                     const std::string& sighting_id);

  // Number of faces.
  size_t size() const;
  // Number of persons (with or without faces).
  size_t person_count() const;
  // Number of negative examples.
  size_t negative_count() const;
  const std::string& name() const { return name_; }
  int dims() const { return dims_; }

  // Exact cosine search. Returns at most k persons that have faces, one Match
  // each, best first (ties by person id), leaving out persons vetoed by one of
  // their negatives (see AddNegative). The probe is scaled to unit length;
  // a probe of the wrong size, zero or non-finite, or k <= 0, gives no matches.
  std::vector<Match> Search(const Embedding& probe, int k, SearchMode mode) const;

 private:
  struct PersonEntry {
    Person person;
    std::vector<uint32_t> rows;  // rows of matrix_ holding this person's faces
  };

  FaceCollection(std::unique_ptr<FaceRepository> repository, int dims);
  // Needs write_mu_. Reads the change token, then the snapshot, into a fresh
  // mirror and swaps it in.
  Status Reload();
  // Fills this (new, unshared) collection's mirror from a snapshot.
  Status Install(const FaceSnapshot& snapshot);
  // Needs write_mu_. Validates a face and returns its unit embedding.
  Result<Embedding> CheckFace(const FaceRecord& face) const;
  // Need write_mu_ and an exclusive mu_.
  void AppendRow(int64_t face_id, uint32_t person, const Embedding& unit);
  void RemoveRow(uint32_t row);
  void RemovePerson(uint32_t person);
  void RecomputeCentroid(uint32_t person);
  void AppendNegative(uint32_t person, const Embedding& unit);
  // Needs mu_ or write_mu_. kNotFound naming the id if absent.
  Result<uint32_t> PersonIndex(const std::string& id) const;

  const std::unique_ptr<FaceRepository> repo_;
  const std::string name_;
  const int dims_;

  std::mutex write_mu_;            // serialises writers, held across database I/O
  int64_t change_token_ = 0;       // repo_->ChangeToken() before the last load; write_mu_
  mutable std::shared_mutex mu_;   // guards everything below
  std::vector<PersonEntry> persons_;
  std::unordered_map<std::string, uint32_t> person_index_;
  std::vector<float> centroids_;   // persons_.size() x dims_; zero row when no faces
  std::vector<float> matrix_;      // size() x dims_, unit rows
  std::vector<int64_t> face_ids_;  // per row
  std::vector<uint32_t> face_person_;  // per row: index into persons_
  std::vector<float> negatives_;       // negative examples, unit rows
  std::vector<uint32_t> negative_person_;  // per negative row: index into persons_
};

}  // namespace concierge
