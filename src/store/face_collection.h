// A named face collection: persons, their faces and their negative examples,
// stored through a FaceRepository (SQLite or PostgreSQL) and mirrored in
// memory as one contiguous matrix per embedding model for exact search. A
// large collection keeps an HNSW index of the primary model's face vectors
// instead of that model's matrix (SearchIndexOptions): the index finds
// candidates without a full scan and holds the only in-memory copy of those
// vectors, in 8 bits per dimension (AnnIndex): Search and SearchExact then
// score from the same decoded vectors, within 4e-3 of the float scores.
// Dropping the index puts the decoded vectors back in the matrix; the
// floats return at the next load.
// A collection searches with a fixed list of models (the vision engine's
// embedders, primary first). Only faces with a vector of every one of them
// take part; faces made by other models wait for `concierge reindex`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "core/types.h"
#include "store/ann_index.h"
#include "store/database.h"
#include "store/face_repository.h"

namespace concierge {

enum class SearchMode {
  kBestFace,  // a person scores their best face
  kCentroid,  // a person scores the normalised mean of their faces
};

// How Search finds candidates. With ann_min_faces > 0 a collection of at
// least that many searchable faces keeps an HNSW index beside the exact
// matrix (built at Open, on growing past it, after a Refresh that changed
// much, and when removed slots outnumber live ones); it is dropped again
// below half of it, so a collection near the threshold does not rebuild on
// every write. 0: always exact.
// With a save_dir the index is saved there after every build (and by
// SaveIndex) and the next Open loads it, brings it up to date with the
// store and builds only when it is missing, unreadable, built with other
// options or more than a quarter out of date.
struct SearchIndexOptions {
  size_t ann_min_faces = 0;
  AnnOptions ann;
  std::string save_dir;  // empty: built at every start
};

// The options recognition.ann_min_faces, ann_ef_search, ann_m and
// ann_ef_construction configure (a valid config's), saved in its IndexDir().
SearchIndexOptions SearchIndexOptionsFor(const Config& config);

// Accepts "best" or "centroid" (RecognitionConfig::search_mode); else kInvalidArgument.
Result<SearchMode> ParseSearchMode(const std::string& text);

// OK when `id` can name a person or collection: 1..128 chars of [A-Za-z0-9._-],
// not "." or "..", so it is safe inside object keys such as known/<person>/...
Status ValidateStoreId(const std::string& id);

// For calibration: one face of a person against another person, scored in
// every model space (the distribution a stranger's scores come from).
struct ImpostorScore {
  std::vector<float> scores;  // per space
};

// Thread safety: any number of concurrent readers (Search, Get*, List*,
// size) with writers serialised among themselves. Writers go to the database
// first and change memory only after the database accepted the change, so a
// failed write leaves both untouched; readers are blocked only while memory
// changes, never during database I/O.
// The memory mirror reflects this process's writes at once; changes made by
// another process to the same collection are seen after Refresh().
class FaceCollection {
 public:
  // Needs a repository for a valid collection name and at least one space of
  // 1..65536 dims with distinct model names. Creates the collection if missing
  // (read-only stores work when it exists) and loads every face and negative
  // vector of those models.
  static Result<std::unique_ptr<FaceCollection>> Open(std::unique_ptr<FaceRepository> repository,
                                                      std::vector<VectorSpace> spaces,
                                                      SearchIndexOptions index = {});
  // Open() on the SQLite repository of `db`, which must outlive the collection.
  static Result<std::unique_ptr<FaceCollection>> Open(Database* db, const std::string& collection,
                                                      std::vector<VectorSpace> spaces,
                                                      SearchIndexOptions index = {});

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
  // Replaces the person's notification preferences. kNotFound for an unknown
  // person or host; kInvalidArgument when they would host themselves.
  Status SetPreferences(const std::string& id, const PersonPreferences& preferences);
  // The person with this non-empty external id, or kNotFound.
  Result<Person> FindByExternalId(const std::string& external_id) const;

  // Needs an existing person (else kNotFound) and, for every space, one
  // finite, non-zero embedding of its dims (else kInvalidArgument naming the
  // model); face.id is ignored and face.collection must be empty or this
  // collection. Stores the embeddings scaled to unit length (vectors of
  // other models are dropped) and returns the new face id.
  Result<int64_t> AddFace(const FaceRecord& face);
  // AddFace for many faces in one transaction: all are added or none.
  // Returns the new ids in input order.
  Result<std::vector<int64_t>> AddFaces(const std::vector<FaceRecord>& faces);
  // The person's faces (with every stored embedding) ordered by id;
  // kNotFound for an unknown person.
  Result<std::vector<FaceRecord>> ListFaces(const std::string& person_id) const;
  // Every face of the collection, as ListFaces.
  Result<std::vector<FaceRecord>> ListAllFaces() const;
  // Every picture the collection's faces use, once each, sorted: one query,
  // without the vectors ListAllFaces reads.
  Result<std::vector<std::string>> ListImageKeys() const;
  // Removes one face of this collection; kNotFound if it is not here.
  Status DeleteFace(int64_t face_id);
  // Reindexing: makes `embeddings` (one per space, as AddFace checks them)
  // the only embeddings of `face` (a record from ListFaces: its id and person
  // are used). kNotFound if the face is not here.
  Status ReplaceEmbeddings(const FaceRecord& face, const Descriptor& embeddings);
  // Lets the face go of its picture (embeddings-only mode) once the caller
  // deleted it: clears its image key if it is still `image_key`. Returns
  // whether it did; the vectors stay.
  Result<bool> ClearImageKey(int64_t face_id, const std::string& image_key);
  // Removes the person with all their faces and negatives. Returns the
  // distinct non-empty image keys of the removed faces so the caller can
  // delete those pictures.
  Result<std::vector<std::string>> ForgetPerson(const std::string& id);
  // Atomically gives every face and negative of `from` to `into` (renaming
  // face image keys as `image_keys` maps them), removes `from`, and gives
  // `into` the external id of `from` if it had none. Returns how
  // many faces moved; kNotFound, changing nothing, if either is missing.
  Result<int64_t> MergePerson(const std::string& from, const std::string& into,
                              const std::map<std::string, std::string>& image_keys);

  // Needs an existing person (else kNotFound) and, in `probe`, a finite,
  // non-zero vector of the primary model (else kInvalidArgument); vectors of
  // other spaces are stored too, others dropped. Stores a "not me" example:
  // from then on Search never returns the person for a probe whose primary
  // cosine to one of their negatives is at least its score for them.
  // `sighting_id` (may be empty) records where the example came from.
  Status AddNegative(const std::string& person_id, const Descriptor& probe,
                     const std::string& sighting_id);
  // Every negative (reindexing), and removing one (kNotFound if absent).
  Result<std::vector<NegativeRecord>> ListNegatives() const;
  Status DeleteNegative(int64_t negative_id);

  // Faces that take part in search (a vector of every model).
  size_t size() const;
  // Faces that do not (made by another model; `concierge reindex`).
  size_t stale_faces() const;
  // Number of persons (with or without faces).
  size_t person_count() const;
  // Number of persons with at least one face that takes part in search.
  size_t persons_with_faces() const;
  // Number of negative examples of the primary model.
  size_t negative_count() const;
  const std::string& name() const { return name_; }
  // The models searched with, primary first.
  const std::vector<VectorSpace>& spaces() const { return spaces_; }

  // Cosine search. Returns at most k persons that have faces, one Match
  // each, best first by the primary model (ties by person id), leaving out
  // persons vetoed by one of their negatives (see AddNegative). Each match
  // carries the person's score in every space the probe has a vector of.
  // A probe without a valid primary vector, or k <= 0, gives no matches.
  // Scores are exact (over the index's decoded vectors while it is kept); with
  // the HNSW index only the persons owning the nearest faces it finds are
  // scored, so a person may rarely be missed.
  std::vector<Match> Search(const Descriptor& probe, int k, SearchMode mode) const;
  // Search over every person, whatever index is kept (tests, benchmarks).
  std::vector<Match> SearchExact(const Descriptor& probe, int k, SearchMode mode) const;
  // Sets the index's ef_search (AnnOptions) from the next search on, and for
  // any index built later: larger finds the nearest faces more often, slower.
  void SetEfSearch(int ef_search);
  // Saves the index (SearchIndexOptions::save_dir) if it changed since it was
  // built, loaded or saved, so the next Open need not bring it up to date;
  // a server calls it when it stops. OK when there is nothing to save;
  // kIoError naming the cause.
  Status SaveIndex();
  // "hnsw" while the approximate index is kept, else "exact".
  const char* search_index() const;
  // Bytes held in memory for the face vectors of every space: matrices,
  // centroids, negatives and the index (vectors, links, labels).
  size_t vector_bytes() const;

  // Each person with faces and the other person whose centroid is most like
  // theirs by the primary model (look-alikes), ordered by person id.
  struct LookAlike {
    std::string person_id, other_id;
    float similarity = 0;
  };
  std::vector<LookAlike> LookAlikes() const;

  // Counts every change of the mirror (writes, reloads): a cheap way for
  // derived state (calibration) to notice it is out of date.
  uint64_t generation() const;

  // Up to `max_pairs` scores of a face against another person with faces
  // (by `mode`: that person's best face or centroid), sampled evenly over
  // persons; none with fewer than two persons. The impostor distribution the
  // match threshold is calibrated on.
  std::vector<ImpostorScore> ImpostorScores(size_t max_pairs, SearchMode mode) const;

 private:
  struct PersonEntry {
    Person person;
    std::vector<uint32_t> rows;  // rows of the matrices holding this person's faces
  };
  // One model's vectors. Row r of every space is the same face. While ann_
  // is kept ("compact") the rows are 8-bit codes (the primary's in ann_) and
  // there are no centroid rows: a person's centroid score is the sum of its
  // rows' scores times its centroid_scale.
  struct Space {
    std::vector<float> matrix;     // rows x dims, unit rows; empty while compact
    std::vector<char> codes;       // compact, secondary spaces: rows x CodeBytes(dims)
    std::vector<float> centroids;  // persons x dims; zero row when no faces; empty while compact
    std::vector<float> centroid_scale;  // compact: per person, 1 / |sum of its rows|, or 0
    std::vector<float> negatives;  // negative examples, unit rows
    std::vector<uint32_t> negative_person;  // per negative row: index into persons_
  };

  // A person's exact score for a probe (Search's candidates).
  struct Scored {
    uint32_t person;
    float score;
    int64_t face;
  };

  FaceCollection(std::unique_ptr<FaceRepository> repository, std::vector<VectorSpace> spaces,
                 SearchIndexOptions index);
  // Needs write_mu_ and not mu_. Builds, rebuilds or drops the HNSW index as
  // SearchIndexOptions says (and saves a new one); a failed build leaves
  // search exact.
  void UpdateIndex();
  // Needs write_mu_. The index the last save left, if it may be used (its
  // checks passed), for the first load; null otherwise. SaveIndexLocked:
  // SaveIndex's work.
  std::unique_ptr<AnnIndex> ReadSavedIndex() const;
  Status SaveIndexLocked();
  // <save_dir>/<collection>.<primary model>: where the index is saved.
  std::string IndexStem() const;
  // Need write_mu_ and an exclusive mu_. Compact: once ann_ holds the
  // primary vectors, frees the primary matrix, encodes the others and
  // replaces the centroids by their scales. DropIndex: the reverse (decoded
  // vectors into the matrices, centroids recomputed), then drops ann_.
  void Compact();
  void DropIndex();
  // Need mu_ or write_mu_. Row `row`'s unit vector in space s (dims
  // floats) from the matrix: not the primary space's while ann_ is kept.
  const float* Row(size_t s, uint32_t row) const;
  // Its dot product with q, and a copy of it in `out`, from the matrix or,
  // while compact, the decoded code.
  float RowDot(size_t s, uint32_t row, const float* q) const;
  void CopyRow(size_t s, uint32_t row, float* out) const;
  // Needs mu_ or write_mu_. Person p's centroid in space s (dims floats).
  void CopyCentroid(size_t s, uint32_t p, float* out) const;
  // Need mu_. Every person with faces, or the owners of the nearest faces
  // the index finds, ordered by person index.
  std::vector<Scored> ScoreAll(const float* q, SearchMode mode) const;
  std::vector<Scored> ScoreCandidates(const float* q, int k, SearchMode mode) const;
  std::vector<Match> Rank(std::vector<Scored> scored, const std::vector<Embedding>& units, int k,
                          SearchMode mode) const;
  std::vector<Match> SearchWith(const Descriptor& probe, int k, SearchMode mode,
                                bool allow_index) const;
  // Needs write_mu_. Reads the change token, then the snapshot, into a fresh
  // mirror and swaps it in (LoadMirror), with `saved` (at Open) as its
  // index if it is not too far out of date; then updates the index and
  // gives the heap the load freed back to the system.
  Status Reload(bool use_saved_index = false);
  Status LoadMirror(std::unique_ptr<AnnIndex> saved);
  // Needs write_mu_ and an exclusive mu_: the mirror read again with float
  // rows (ann_ dropped first), or emptied if that fails.
  Status LoadExactLocked(int64_t token);
  // Needs write_mu_ and an exclusive mu_. Takes fresh's rows and persons.
  void SwapMirror(FaceCollection& fresh, int64_t token);
  // What an index lacks against the rows read: ids it holds that they do
  // not, and faces whose primary vector it does not hold. Past a quarter of
  // the faces a fresh build is cheaper than the edits.
  struct IndexEdits {
    std::vector<int64_t> gone;
    std::vector<std::pair<int64_t, Embedding>> changed;
    bool TooLarge(size_t faces) const { return (gone.size() + changed.size()) * 4 > faces; }
  };
  // Fills this (new, unshared) collection's mirror from a snapshot of
  // `repo`, face by face as it streams. With an index (which the caller
  // owns and nothing changes meanwhile) the mirror is compact: the primary
  // vectors are left to the index, *edits says what it lacks, and the
  // centroid scales are left for the caller to compute once ann_ is that
  // index. Without one, every space has float rows and centroids.
  Status Install(FaceRepository& repo, const AnnIndex* index, IndexEdits* edits);
  // Needs write_mu_. The face's unit vectors, one per space in space order,
  // or kInvalidArgument.
  Result<std::vector<Embedding>> CheckFace(const FaceRecord& face) const;
  Result<std::vector<Embedding>> CheckEmbeddings(const Descriptor& embeddings) const;
  // Need write_mu_ and an exclusive mu_. AppendRow adds the primary vector
  // to ann_ if there is one; AddRowToMirror only the row (compact: the
  // other spaces as codes; otherwise every space as floats).
  void AppendRow(int64_t face_id, uint32_t person, const std::vector<Embedding>& units);
  void AddRowToMirror(int64_t face_id, uint32_t person, const std::vector<Embedding>& units,
                      bool compact);
  void RemoveRow(uint32_t row);
  void RemovePerson(uint32_t person);
  void RecomputeCentroid(uint32_t person);
  // Needs mu_ or write_mu_. kNotFound naming the id if absent.
  Result<uint32_t> PersonIndex(const std::string& id) const;
  // Needs mu_. Person p's score against unit vector q in space s.
  float PersonScore(size_t s, uint32_t p, const float* q, SearchMode mode, int64_t* face) const;

  const std::unique_ptr<FaceRepository> repo_;
  const std::string name_;
  const std::vector<VectorSpace> spaces_;
  SearchIndexOptions index_options_;  // ef_search changes under write_mu_ and mu_

  std::mutex write_mu_;            // serialises writers, held across database I/O
  int64_t change_token_ = 0;       // repo_->ChangeToken() before the last load; write_mu_
  mutable std::shared_mutex mu_;   // guards everything below
  std::vector<PersonEntry> persons_;
  std::unordered_map<std::string, uint32_t> person_index_;
  std::vector<Space> space_data_;  // parallel to spaces_
  std::vector<int64_t> face_ids_;  // per row
  std::vector<uint32_t> face_person_;  // per row: index into persons_
  std::unordered_map<int64_t, uint32_t> row_of_;  // face id -> row
  std::unique_ptr<AnnIndex> ann_;  // primary vectors, by face id; null: in the matrix
  int64_t stored_faces_ = 0;       // every face in the repository at the last load, plus ours
  uint64_t generation_ = 0;
};

}  // namespace concierge
