#include "pipeline/retention.h"

#include <atomic>
#include <limits>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "core/clock.h"

namespace concierge {

namespace {

constexpr int64_t kDayMs = 24 * 3600 * 1000LL;
constexpr int kBatch = 500;  // rows per store call, so no pass holds a lock for long

// The cutoff for a class kept `days` days; 0 (keep forever) when days is 0.
int64_t Cutoff(int64_t now_ms, int days) { return days > 0 ? now_ms - days * kDayMs : 0; }

// What one pass works with: the parts, the pictures training faces use, and
// whether it was asked to stop (checked before each picture and batch).
struct Pass {
  const RetentionParts& parts;
  const std::atomic<bool>* stop;
  std::set<std::string> training_pictures;
  RetentionReport report;

  bool Stopped() {
    if (stop != nullptr && stop->load(std::memory_order_relaxed)) report.interrupted = true;
    return report.interrupted;
  }
};

Result<std::set<std::string>> TrainingPictures(const FaceCollection& faces) {
  ASSIGN_OR_RETURN(const std::vector<std::string> keys, faces.ListImageKeys());
  return std::set<std::string>(keys.begin(), keys.end());
}

// Deletes the picture of `s` unless a training face uses it.
Status DeletePicture(Pass& pass, const SightingRecord& s) {
  if (pass.training_pictures.count(s.image_key)) {
    ++pass.report.kept_training_pictures;
    return Status::Ok();
  }
  return pass.parts.objects->Delete(s.image_key);
}

// Deletes the pictures of sightings with `decisions` captured before
// `before_ms`, then clears their image keys; returns how many.
Result<int64_t> ExpireCrops(Pass& pass, const std::vector<Decision>& decisions,
                            int64_t before_ms) {
  int64_t removed = 0;
  if (before_ms <= 0) return removed;
  while (!pass.Stopped()) {
    ASSIGN_OR_RETURN(auto batch, pass.parts.sightings->ListCapturedBefore(
                                     before_ms, decisions, /*with_image_only=*/true, kBatch));
    if (batch.empty()) return removed;
    for (const SightingRecord& s : batch) {
      if (pass.Stopped()) return removed;
      RETURN_IF_ERROR(DeletePicture(pass, s));
      ASSIGN_OR_RETURN(const bool cleared, pass.parts.sightings->ClearImageKey(s.id, s.image_key));
      if (cleared) ++removed;
    }
  }
  return removed;
}

// Embeddings-only mode: deletes the picture of every decided sighting and of
// every training face, each before its row lets go of it; returns how many.
Result<int64_t> PurgePictures(Pass& pass) {
  const RetentionParts& parts = pass.parts;
  int64_t removed = 0;
  while (!pass.Stopped()) {
    ASSIGN_OR_RETURN(auto batch, parts.sightings->ListCapturedBefore(
                                     std::numeric_limits<int64_t>::max(),
                                     {Decision::kKnown, Decision::kUnknown, Decision::kRejected},
                                     /*with_image_only=*/true, kBatch));
    if (batch.empty()) break;
    for (const SightingRecord& s : batch) {
      if (pass.Stopped()) return removed;
      RETURN_IF_ERROR(parts.objects->Delete(s.image_key));
      ASSIGN_OR_RETURN(const bool cleared, parts.sightings->ClearImageKey(s.id, s.image_key));
      if (cleared) ++removed;
    }
  }
  ASSIGN_OR_RETURN(const auto faces, parts.faces->ListAllFaces());
  for (const FaceRecord& face : faces) {
    if (face.image_key.empty()) continue;
    if (pass.Stopped()) return removed;
    RETURN_IF_ERROR(parts.objects->Delete(face.image_key));
    ASSIGN_OR_RETURN(const bool cleared, parts.faces->ClearImageKey(face.id, face.image_key));
    if (cleared) ++removed;
  }
  return removed;
}

// Deletes sightings captured before `before_ms` (their pictures first, and
// their cluster memberships), then visits that ended before it.
Status ExpireSightings(Pass& pass, int64_t before_ms) {
  if (before_ms <= 0) return Status::Ok();
  const RetentionParts& parts = pass.parts;
  while (true) {
    if (pass.Stopped()) return Status::Ok();
    ASSIGN_OR_RETURN(auto batch, parts.sightings->ListCapturedBefore(
                                     before_ms, {}, /*with_image_only=*/false, kBatch));
    if (batch.empty()) break;
    std::vector<std::string> ids;
    for (const SightingRecord& s : batch) {
      if (pass.Stopped()) break;  // the batch's rows whose pictures went are still deleted
      if (!s.image_key.empty()) RETURN_IF_ERROR(DeletePicture(pass, s));
      if (parts.clusters) RETURN_IF_ERROR(parts.clusters->RemoveSighting(s.id));
      ids.push_back(s.id);
    }
    ASSIGN_OR_RETURN(const int64_t deleted, parts.sightings->DeleteSightings(ids));
    pass.report.sightings += deleted;
  }
  if (pass.Stopped()) return Status::Ok();
  ASSIGN_OR_RETURN(pass.report.visits, parts.sightings->DeleteVisitsBefore(before_ms));
  return Status::Ok();
}

// Runs `purge(before_ms)` on a store that is there, when anything expires.
template <typename Store, typename Purge>
Result<int64_t> PurgeBefore(Store* store, int64_t before_ms, Purge purge) {
  if (store == nullptr || before_ms <= 0) return int64_t{0};
  return purge(*store, before_ms);
}

Status CheckParts(const RetentionParts& parts) {
  if (parts.sightings == nullptr || parts.objects == nullptr || parts.faces == nullptr)
    return Status::InvalidArgument("retention needs the sighting, object and face stores");
  return Status::Ok();
}

}  // namespace

Status ValidateRetention(const RetentionConfig& config) {
  if (config.unknown_crops_days < 0 || config.known_crops_days < 0 || config.events_days < 0)
    return Status::InvalidArgument("retention.*_days must be >= 0 (0 keeps that class forever)");
  if (config.interval_s <= 0) return Status::InvalidArgument("retention.interval_s must be > 0");
  return Status::Ok();
}

Result<RetentionReport> ApplyRetention(const RetentionConfig& config, const RetentionParts& parts,
                                       int64_t now_ms, const std::atomic<bool>* stop) {
  RETURN_IF_ERROR(ValidateRetention(config));
  RETURN_IF_ERROR(CheckParts(parts));
  Pass pass{parts, stop, {}, {}};
  RetentionReport& report = pass.report;
  if (config.embeddings_only) {
    ASSIGN_OR_RETURN(report.pictures, PurgePictures(pass));
  }
  ASSIGN_OR_RETURN(pass.training_pictures, TrainingPictures(*parts.faces));
  ASSIGN_OR_RETURN(report.unknown_crops,
                   ExpireCrops(pass, {Decision::kUnknown, Decision::kRejected},
                               Cutoff(now_ms, config.unknown_crops_days)));
  ASSIGN_OR_RETURN(report.known_crops,
                   ExpireCrops(pass, {Decision::kKnown}, Cutoff(now_ms, config.known_crops_days)));
  const int64_t events_before = Cutoff(now_ms, config.events_days);
  RETURN_IF_ERROR(ExpireSightings(pass, events_before));
  if (pass.Stopped()) return report;
  // A cluster's members are all older than its last_ms, so they are gone too.
  ASSIGN_OR_RETURN(report.clusters,
                   PurgeBefore(parts.clusters, events_before, [](StrangerClusters& c, int64_t t) {
                     return c.DeleteSeenBefore(t);
                   }));
  ASSIGN_OR_RETURN(report.outbox,
                   PurgeBefore(parts.outbox, events_before, [](OutboxStore& o, int64_t t) {
                     return o.DeleteCreatedBefore(t);
                   }));
  ASSIGN_OR_RETURN(report.audit, PurgeBefore(parts.audit, events_before,
                                             [](AuditLog& a, int64_t t) {
                                               return a.DeleteBefore(t);
                                             }));
  return report;
}

Result<std::unique_ptr<RetentionJob>> RetentionJob::Start(const RetentionConfig& config,
                                                          RetentionParts parts,
                                                          std::function<int64_t()> now_ms) {
  RETURN_IF_ERROR(ValidateRetention(config));
  RETURN_IF_ERROR(CheckParts(parts));
  if (!now_ms) now_ms = NowMs;
  return std::unique_ptr<RetentionJob>(new RetentionJob(config, parts, std::move(now_ms)));
}

RetentionJob::RetentionJob(const RetentionConfig& config, RetentionParts parts,
                           std::function<int64_t()> now_ms)
    : config_(config), parts_(parts), now_ms_(std::move(now_ms)), thread_([this] { Run(); }) {}

RetentionJob::~RetentionJob() { Stop(); }

void RetentionJob::RequestStop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_pass_.store(true);
  cv_.notify_all();
}

void RetentionJob::Stop() {
  RequestStop();
  if (thread_.joinable()) thread_.join();
}

int64_t RetentionJob::passes() const {
  std::lock_guard lock(mu_);
  return passes_;
}

void RetentionJob::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    const auto report = ApplyRetention(config_, parts_, now_ms_(), &stop_pass_);
    if (report.ok() && report->interrupted) {
      spdlog::info("retention: pass stopped part-way (removed {}); the next one carries on",
                   report->total());
    } else if (!report.ok()) {
      spdlog::error("retention: pass failed (retrying in {} s): {}", config_.interval_s,
                    report.status().ToString());
    } else if (report->total() > 0 || report->kept_training_pictures > 0) {
      spdlog::info(
          "retention: removed pictures={} unknown_crops={} known_crops={} sightings={} visits={} "
          "clusters={} outbox={} audit={} kept_training_pictures={}",
          report->pictures, report->unknown_crops, report->known_crops, report->sightings,
          report->visits, report->clusters, report->outbox, report->audit,
          report->kept_training_pictures);
    } else {
      spdlog::debug("retention: nothing expired");
    }
    lock.lock();
    ++passes_;
    cv_.notify_all();
    cv_.wait_for(lock, std::chrono::seconds(config_.interval_s), [&] { return stopping_; });
  }
}

}  // namespace concierge
