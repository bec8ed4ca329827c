// Retention: what Concierge remembers, and for how long (config.retention).
// Crops of unknown (and rejected) sightings go after unknown_crops_days, crops
// of known people after known_crops_days; sightings, visits, notification
// outbox rows, stranger clusters and audit entries after events_days. Training
// faces stay until their person is forgotten: a crop that is also a training
// face's picture keeps its object, only the sighting lets go of it.
//
// Objects go before the rows that name them, and a sighting's image key is
// cleared only after its object is gone, so a crash in between leaves a key
// whose object is already deleted, which the next pass deletes again (deleting
// is idempotent) and then clears. Nothing expired survives a pass that
// finished, and no row is left pointing at a deleted picture.
//
// In embeddings-only mode (retention.embeddings_only) each pass first deletes
// every picture still stored, whatever its age: those of decided sightings
// and of training faces, kept from before the mode was switched on. Their
// records, vectors, visits and events stay (events until events_days).
// Pending sightings keep theirs until recognition decides and deletes it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "core/config.h"
#include "core/status.h"
#include "store/audit_log.h"
#include "store/face_collection.h"
#include "store/object_store.h"
#include "store/outbox_store.h"
#include "store/sighting_store.h"
#include "store/stranger_clusters.h"

namespace concierge {

// What retention works on, each through its store interface, so it purges
// whichever backend is configured. sightings, objects and faces (whose
// pictures are kept, but in embeddings-only mode) are needed; clusters,
// outbox and audit may be null, then those are left alone.
struct RetentionParts {
  SightingStore* sightings = nullptr;
  ObjectStore* objects = nullptr;
  FaceCollection* faces = nullptr;
  StrangerClusters* clusters = nullptr;
  OutboxStore* outbox = nullptr;
  AuditLog* audit = nullptr;
};

// What one pass removed.
struct RetentionReport {
  int64_t pictures = 0;       // embeddings-only mode: every sighting and face picture left
  int64_t unknown_crops = 0;  // pictures of unknown and rejected sightings
  int64_t known_crops = 0;
  int64_t kept_training_pictures = 0;  // expired crops kept because a training face uses them
  int64_t sightings = 0;
  int64_t visits = 0;
  int64_t clusters = 0;
  int64_t outbox = 0;
  int64_t audit = 0;
  bool interrupted = false;  // stopped part-way when asked to; the next pass carries on

  int64_t total() const {
    return pictures + unknown_crops + known_crops + sightings + visits + clusters + outbox + audit;
  }
};

// OK when every *_days is >= 0 (0 keeps that class forever) and interval_s > 0.
Status ValidateRetention(const RetentionConfig& config);

// Needs a valid config and the needed parts, which outlive the call.
// Removes everything expired at `now_ms` as described above. On an error it
// stops and returns it; what was removed until then stays removed and the
// next pass carries on. Once *stop is true (checked before each picture and
// each batch) it returns what it removed so far, marked interrupted, with
// the same guarantees as after an error.
Result<RetentionReport> ApplyRetention(const RetentionConfig& config, const RetentionParts& parts,
                                       int64_t now_ms, const std::atomic<bool>* stop = nullptr);

// Runs ApplyRetention on a background thread: once at start, then every
// config.interval_s, logging what each pass removed.
class RetentionJob {
 public:
  // Needs a valid config and parts that outlive the job; `now_ms` gives the
  // time of each pass (NowMs when empty).
  static Result<std::unique_ptr<RetentionJob>> Start(const RetentionConfig& config,
                                                     RetentionParts parts,
                                                     std::function<int64_t()> now_ms = {});
  // Stop().
  ~RetentionJob();
  RetentionJob(const RetentionJob&) = delete;
  RetentionJob& operator=(const RetentionJob&) = delete;

  // Asks the thread to end: a running pass stops before its next picture
  // or batch. Returns at once.
  void RequestStop();
  // RequestStop(), then joins the thread. Idempotent.
  void Stop();
  // Passes finished so far (with or without error).
  int64_t passes() const;

 private:
  RetentionJob(const RetentionConfig& config, RetentionParts parts,
               std::function<int64_t()> now_ms);
  void Run();

  const RetentionConfig config_;
  const RetentionParts parts_;
  const std::function<int64_t()> now_ms_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::atomic<bool> stop_pass_{false};  // stopping_, as the running pass reads it
  int64_t passes_ = 0;
  std::thread thread_;
};

}  // namespace concierge
