#include "pipeline/ingest.h"

#include <chrono>
#include <ctime>
#include <utility>

#include <spdlog/spdlog.h>

#include "core/clock.h"

namespace concierge {

namespace {

// Capture times must name a real UTC date for the object key (years 1970..9999).
constexpr int64_t kMaxCapturedMs = 253402300799999;

// The counter label of a reason: its first word ("json: not an object" -> "json").
std::string ReasonLabel(const std::string& reason) {
  const size_t colon = reason.find(':');
  return colon == std::string::npos ? "other" : reason.substr(0, colon);
}

}  // namespace

std::string SightingImageKey(const std::string& prefix, const std::string& id,
                             int64_t captured_ms) {
  const std::time_t secs = static_cast<std::time_t>(captured_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char date[40];
  std::snprintf(date, sizeof(date), "%04d/%02d/%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  return prefix + "/" + date + "/" + id + ".jpg";
}

void RejectionCounter::Count(const std::string& label) {
  std::lock_guard lock(mu_);
  ++counts_[label];
  ++total_;
  Counter*& metric = metrics_[label];
  if (!metric)
    metric = &Metrics().counter("concierge_rejected_messages_total",
                                "Sighting messages refused by ingest", {{"reason", label}});
  metric->Inc();
}

std::map<std::string, uint64_t> RejectionCounter::Snapshot() const {
  std::lock_guard lock(mu_);
  return counts_;
}

uint64_t RejectionCounter::total() const {
  std::lock_guard lock(mu_);
  return total_;
}

Result<bool> GroupInserter::Insert(SightingRecord record) {
  Pending mine{std::move(record), std::nullopt};
  std::unique_lock lock(mu_);
  queue_.push_back(&mine);
  done_cv_.wait(lock, [&] { return mine.result.has_value() || !committing_; });
  if (mine.result) return *std::move(mine.result);
  // No commit is running and ours is queued: commit all that waits, then hand out results.
  committing_ = true;
  std::vector<Pending*> batch;
  batch.swap(queue_);
  lock.unlock();
  std::vector<Result<bool>> results = Commit(batch);
  lock.lock();
  for (size_t i = 0; i < batch.size(); ++i) batch[i]->result = std::move(results[i]);
  committing_ = false;
  done_cv_.notify_all();
  return *std::move(mine.result);
}

std::vector<Result<bool>> GroupInserter::Commit(const std::vector<Pending*>& batch) {
  std::vector<SightingRecord> records;
  records.reserve(batch.size());
  for (Pending* p : batch) records.push_back(std::move(p->record));
  const Result<std::vector<bool>> fresh = store_->InsertBatch(records);
  std::vector<Result<bool>> results;
  results.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i)
    results.push_back(fresh.ok() ? Result<bool>((*fresh)[i]) : store_->Insert(records[i]));
  return results;
}

IngestStage::IngestStage(IngestOptions options, ObjectStore* objects, SightingStore* sightings,
                         EventStream* events)
    : options_(std::move(options)),
      objects_(objects),
      sightings_(sightings),
      events_(events),
      inserter_(sightings),
      seconds_(Metrics().histogram("concierge_stage_seconds", "Time spent in a server stage",
                                   {{"stage", "ingest"}})) {}

std::string IngestStage::Validate(const Message& message, const Sighting& s) const {
  // A publisher may only speak for the camera its topic names.
  if (message.topic != SightingTopic(options_.topic_prefix, s.site, s.camera))
    return "topic: '" + message.topic + "' does not belong to camera " + s.site + "/" + s.camera;
  if (s.captured_ms < 0 || s.captured_ms > kMaxCapturedMs)
    return "time: captured_ms " + std::to_string(s.captured_ms) + " is not a valid time";
  // The structure, not the pixels: a full decode here cost a third of the
  // CPU per sighting, and recognition decodes the crop anyway (and rejects
  // one whose entropy data is damaged).
  auto header = CheckImageStructure(s.jpeg, options_.image);
  if (!header.ok()) return "image: " + header.status().message();
  if (header->format != "jpeg") return "image: crop is " + header->format + ", not a JPEG";
  for (const Box& f : s.faces)
    if (f.right() > float(header->width) + 1 || f.bottom() > float(header->height) + 1)
      return "schema: a face box lies outside the " + std::to_string(header->width) + "x" +
             std::to_string(header->height) + " picture";
  return "";
}

IngestResult IngestStage::Reject(const std::string& id, const std::string& reason) {
  rejections_.Count(ReasonLabel(reason));
  spdlog::warn("ingest: rejected message id={} reason=\"{}\"", id.empty() ? "-" : id, reason);
  return {IngestResult::Kind::kRejected, id, false, reason};
}

Result<IngestResult> IngestStage::Ingest(const Message& message) {
  const auto start = std::chrono::steady_clock::now();
  Result<IngestResult> result = Store(message);
  seconds_.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return result;
}

Result<IngestResult> IngestStage::Store(const Message& message) {
  auto decoded = DecodeSighting(message.payload, options_.decode);
  if (!decoded.ok()) return Reject("", decoded.status().message());
  const Sighting& s = *decoded;
  if (std::string why = Validate(message, s); !why.empty()) return Reject(s.id, why);

  // A redelivery must not write the picture again: it may have moved on already.
  auto existing = sightings_->Get(s.id);
  if (existing.ok())
    return IngestResult{IngestResult::Kind::kDuplicate, s.id,
                        existing->decision == Decision::kPending, ""};
  if (existing.status().code() != Status::Code::kNotFound) return existing.status();

  SightingRecord record;
  record.id = s.id;
  record.camera = s.camera;
  record.site = s.site;
  record.track = s.track;
  record.seq = s.seq;
  record.captured_ms = s.captured_ms;
  record.capture_clock = s.capture_clock;
  record.received_ms = NowMs();
  record.box = s.box;
  record.detector_score = s.detector_score;
  record.quality = s.quality;
  record.live_score = s.live_score;
  record.faces = s.faces;
  record.human_score = s.human_score;
  record.image_key = SightingImageKey("incoming", s.id, s.captured_ms);
  RETURN_IF_ERROR(objects_->Put(record.image_key, s.jpeg));
  ASSIGN_OR_RETURN(const bool is_new, inserter_.Insert(record));
  if (!is_new) {  // another delivery of the same id won the race
    ASSIGN_OR_RETURN(SightingRecord stored, sightings_->Get(s.id));
    return IngestResult{IngestResult::Kind::kDuplicate, s.id, stored.decision == Decision::kPending,
                        ""};
  }
  spdlog::debug("ingest: recorded id={} camera={}/{} track={} seq={} key={}", s.id, s.site,
                s.camera, s.track, s.seq, record.image_key);
  if (events_) events_->Publish(SightingEvent{SightingEvent::Kind::kRecorded, std::move(record)});
  return IngestResult{IngestResult::Kind::kRecorded, s.id, true, ""};
}

}  // namespace concierge
