// An approximate nearest-neighbour index (HNSW, Debian libhnswlib) over unit
// vectors of one model, keyed by face id, scored by cosine (inner product).
// FaceCollection keeps one once the collection is large
// (recognition.ann_min_faces) and asks it for candidates only. The index
// holds each vector in 8 bits per dimension (store/vector_codes.h): a quarter
// of float32, the largest part of a big collection's memory. The collection
// drops its own copy and computes scores from the decoded vectors (Dot,
// Decode).
// Save writes the index to a file and Load reads it back, so a large
// collection starts without rebuilding its graph (a million faces: minutes
// instead of most of an hour, BENCHMARKS.md).
// Thread safety: Search, Dot, Decode, Holds, Ids and the counters may run
// concurrently with each other, and Save beside them; Add, Remove, Build and
// SetEfSearch need exclusive access (FaceCollection holds its lock).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace concierge {

// HNSW parameters. M and ef_construction trade build time and memory for
// recall; ef_search trades query time for recall (see BENCHMARKS.md).
struct AnnOptions {
  int m = 16;
  int ef_construction = 100;
  int ef_search = 128;
  int build_threads = 2;  // Build only; the box this runs on has 2 cores
};

class AnnIndex {
 public:
  // Needs dims >= 1 and options with m >= 2, ef_construction >= 1, ef_search >= 1.
  static Result<std::unique_ptr<AnnIndex>> Create(int dims, const AnnOptions& options);
  // The index the last Save beside `stem` wrote, once its bytes match the
  // SHA-256 in its name and its graph was built for `dims`, options.m and
  // options.ef_construction (ef_search and build_threads come from
  // `options`). kNotFound when there is none; kInvalidArgument, naming the
  // file, for one that fails a check or was built otherwise; kInternal when
  // memory runs out.
  static Result<std::unique_ptr<AnnIndex>> Load(const std::string& stem, int dims,
                                                const AnnOptions& options);
  ~AnnIndex();
  AnnIndex(const AnnIndex&) = delete;
  AnnIndex& operator=(const AnnIndex&) = delete;

  // Adds `count` vectors, ids[i] with the unit vector that vector_of(i, out)
  // writes to `out` (dims floats; called from several threads at once), in
  // options.build_threads threads. Ids must be new. On an error (kInternal,
  // e.g. out of memory) the index is unusable: drop it.
  Status Build(const int64_t* ids, size_t count,
               const std::function<void(size_t, float*)>& vector_of);
  // Adds one vector under `id`, or replaces the vector of a present id.
  // kInternal as Build.
  Status Add(int64_t id, const float* unit);
  // Removes `id` from results (a no-op for an unknown or removed id). The
  // slot stays in the graph; removed() counts them so the owner can rebuild.
  void Remove(int64_t id);

  // Up to k ids nearest to the unit vector q, with their cosine between 8-bit
  // codes (q's included), best first. Explores max(k, ef_search) candidates.
  std::vector<std::pair<int64_t, float>> Search(const float* q, size_t k) const;
  // Sets ef_search for the next searches. Not safe beside a running Search.
  void SetEfSearch(int ef_search);

  // Writes the index as <stem>.<sha256 of the file>.hnsw (a temporary file,
  // fsync, rename, directory fsync; the folder must exist) and then removes
  // the files of earlier saves and the temporary files of saves whose process
  // died. kIoError naming the cause (e.g. a full disk): the earlier file then
  // stays. Clears dirty().
  Status Save(const std::string& stem);
  // Whether Add, Remove or Build changed the index since it was created,
  // loaded or saved.
  bool dirty() const;

  // The dot product of q (dims floats) with the decoded vector of a present
  // id; 0 for an unknown or removed id.
  float Dot(int64_t id, const float* q) const;
  // Writes the decoded unit vector of a present id to `out` (dims floats) and
  // returns true; false (out untouched) for an unknown or removed id.
  bool Decode(int64_t id, float* out) const;
  // Whether a present id holds what adding `unit` would store (so re-adding
  // it would change nothing).
  bool Holds(int64_t id, const float* unit) const;

  // Every present id, in no particular order.
  std::vector<int64_t> Ids() const;

  size_t size() const;     // ids present
  size_t removed() const;  // removed slots still in the graph
  // Bytes of vectors, links and labels in the slots used so far (what the
  // process holds resident; spare capacity is reserved but untouched).
  size_t bytes() const;
  int dims() const { return dims_; }

 private:
  struct Impl;
  AnnIndex(int dims, std::unique_ptr<Impl> impl);
  const int dims_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace concierge
