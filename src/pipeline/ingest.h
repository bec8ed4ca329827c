// Stage 2, ingest / decode: take a sighting off the bus, validate it, store the
// crop durably as incoming/<yyyy>/<mm>/<dd>/<id>.jpg, and record the sighting
// exactly once. Order matters for crash safety: the picture first, then the
// row, so a recorded sighting always has its picture.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "bus/bus.h"
#include "core/config.h"
#include "core/metrics.h"
#include "core/status.h"
#include "pipeline/events.h"
#include "pipeline/sighting.h"
#include "store/object_store.h"
#include "store/sighting_store.h"
#include "vision/image_io.h"

namespace concierge {

// The object key of a sighting's picture under `prefix` ("incoming",
// "unknown", "known/<person>", ...): <prefix>/<yyyy>/<mm>/<dd>/<id>.jpg, with the
// date of `captured_ms` in UTC.
std::string SightingImageKey(const std::string& prefix, const std::string& id, int64_t captured_ms);

// Counts rejected messages by reason label (e.g. "json", "image"), also as
// concierge_rejected_messages_total{reason}. Thread-safe.
class RejectionCounter {
 public:
  // Needs a label; adds one to it.
  void Count(const std::string& label);
  // Every label seen with its count.
  std::map<std::string, uint64_t> Snapshot() const;
  uint64_t total() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> counts_;
  std::map<std::string, Counter*> metrics_;  // by label, looked up once each
  uint64_t total_ = 0;
};

// Group commit: joins the inserts of concurrent callers into one transaction,
// so N deliveries in flight pay for one commit (one fsync) instead of N. The
// first caller to find no commit running commits everything queued, its own
// row included; the others wait for their result. Thread-safe.
class GroupInserter {
 public:
  // Needs a store that outlives the inserter.
  explicit GroupInserter(SightingStore* store) : store_(store) {}
  // As SightingStore::Insert: returns once the row is committed (true: new).
  // If a shared commit fails, each row of it is tried on its own, so one bad
  // row never fails the others.
  Result<bool> Insert(SightingRecord record);

 private:
  struct Pending {
    SightingRecord record;
    std::optional<Result<bool>> result;
  };
  // Commits the records of `batch` (moving them out); one result per record.
  std::vector<Result<bool>> Commit(const std::vector<Pending*>& batch);

  SightingStore* const store_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  std::vector<Pending*> queue_;
  bool committing_ = false;
};

struct IngestResult {
  enum class Kind {
    kRecorded,   // new sighting, stored and pending
    kDuplicate,  // this id was recorded before; nothing changed
    kRejected,   // bad message: counted and logged, never retried
  };
  Kind kind = Kind::kRejected;
  std::string sighting_id;  // empty when the message had none we could read
  bool pending = false;     // the sighting awaits recognition (new, or a resumable duplicate)
  std::string reason;       // why it was rejected
};

struct IngestOptions {
  std::string topic_prefix = "concierge";  // sightings must arrive on their own topic
  DecodeLimits decode;
  ImageLimits image;
};

// Thread-safe: may be called from several threads at once.
class IngestStage {
 public:
  // Needs stores (and `events`, may be null) that outlive the stage.
  IngestStage(IngestOptions options, ObjectStore* objects, SightingStore* sightings,
              EventStream* events);

  // Validates `message` and stores it. Bad input is a kRejected result (counted
  // and logged with its reason), not an error. A redelivered id changes
  // nothing. Errors are storage trouble only; then nothing was recorded and
  // the same message may be retried. Timed as concierge_stage_seconds{stage="ingest"}.
  Result<IngestResult> Ingest(const Message& message);

  const RejectionCounter& rejections() const { return rejections_; }

 private:
  // Reason for refusing a decoded sighting, or "" when it is acceptable.
  std::string Validate(const Message& message, const Sighting& sighting) const;
  IngestResult Reject(const std::string& id, const std::string& reason);
  Result<IngestResult> Store(const Message& message);

  const IngestOptions options_;
  ObjectStore* const objects_;
  SightingStore* const sightings_;
  EventStream* const events_;
  GroupInserter inserter_;
  RejectionCounter rejections_;
  Histogram& seconds_;
};

}  // namespace concierge
