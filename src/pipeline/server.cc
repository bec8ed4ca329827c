#include "pipeline/server.h"

#include <malloc.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "core/metrics.h"

namespace concierge {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The bus acknowledges a message once its handler returns OK, so on storage
// trouble the handler keeps the message and retries until storage is back (or
// the server stops): with one message in flight per connection that also stops
// the broker sending more.
constexpr milliseconds kFirstRetry{100}, kMaxRetry{2'000};
// Storage trouble is logged when it starts, then at most this often, then when it ends.
constexpr std::chrono::seconds kTroubleLogEvery{60};

bool Retryable(const Status& status) {
  return status.code() == Status::Code::kIoError || status.code() == Status::Code::kUnavailable;
}

// Deletes incoming/ pictures whose sighting was decided (and recorded under
// another key) before a crash let recognition remove them. Pictures of
// unrecorded sightings are left: their ingest may still be under way.
void SweepDecidedLeftovers(ObjectStore& objects, SightingStore& sightings) {
  auto keys = objects.List("incoming/");
  if (!keys.ok()) {
    spdlog::warn("serve: cannot list incoming/ for leftovers: {}", keys.status().message());
    return;
  }
  for (const std::string& key : *keys) {
    const size_t slash = key.rfind('/'), dot = key.rfind(".jpg");
    if (dot == std::string::npos || dot <= slash + 1) continue;
    auto s = sightings.Get(key.substr(slash + 1, dot - slash - 1));
    if (!s.ok() || s->decision == Decision::kPending || s->image_key == key) continue;
    if (Status gone = objects.Delete(key); gone.ok())
      spdlog::info("serve: removed {}, left behind by a crash (sighting {} is at {})", key, s->id,
                   s->image_key);
  }
}

}  // namespace

std::string SightingFilter(const BusConfig& config) {
  const std::string filter = config.topic_prefix + "/+/+/sightings";
  return config.kind == "mqtt" ? "$share/" + config.share_group + "/" + filter : filter;
}

Server::Server(const Config& config, ServerParts parts)
    : bus_config_(config.bus),
      faces_(parts.faces),
      ingest_(IngestOptions{config.bus.topic_prefix,
                            {config.serve.max_payload_bytes},
                            {config.vision.max_image_bytes, config.vision.max_image_pixels}},
              parts.objects, parts.sightings, parts.events) {}

Server::~Server() { Stop(); }

Result<std::unique_ptr<Server>> Server::Start(const Config& config, ServerParts parts) {
  if (!parts.sightings || !parts.objects || !parts.faces)
    return Status::InvalidArgument("server needs a sighting store, an object store and faces");
  if (config.serve.visit_window_s <= 0)
    return Status::InvalidArgument("serve.visit_window_s must be > 0");
  ASSIGN_OR_RETURN(const SearchMode mode, ParseSearchMode(config.recognition.search_mode));
  std::unique_ptr<Server> server(new Server(config, parts));
  const int workers = std::max(1, config.serve.workers);
  const ImageLimits limits{config.vision.max_image_bytes, config.vision.max_image_pixels};
  FaceEngine* engine = parts.engine;
  if (!engine) {
    ASSIGN_OR_RETURN(server->own_engine_, FaceEngine::Create(config.vision));
    engine = server->own_engine_.get();
  }
  RETURN_IF_ERROR(CheckCollectionModels(*parts.faces, engine->embedders()));
  server->matcher_ = std::make_unique<Matcher>(
      engine->pack(), parts.faces, config.recognition.target_false_welcome_rate, mode);
  server->visits_ = std::make_unique<VisitTracker>(
      parts.sightings, int64_t{config.serve.visit_window_s} * 1000,
      server->matcher_->calibration().same_person_threshold);
  if (config.recognition.learn_faces)
    server->learner_ = std::make_unique<GalleryLearner>(
        parts.faces, parts.objects, config.quality, config.recognition.gallery_cap,
        config.notify.spoof_live_threshold, !config.retention.embeddings_only);
  // The engine is thread-safe, so the workers share one copy of the models.
  for (int i = 0; i < workers; ++i) {
    server->stages_.push_back(std::make_unique<RecognitionStage>(
        CropRecogniser(engine, server->matcher_.get(), limits), parts.objects,
        parts.sightings, server->visits_.get(), parts.events, server->learner_.get(),
        config.retention.embeddings_only));
  }
  if (parts.faces->stale_faces() > 0)
    spdlog::warn("serve: {} faces of collection {} were embedded by other models and are not "
                 "searched; run `concierge reindex`",
                 parts.faces->stale_faces(), parts.faces->name());
  SweepDecidedLeftovers(*parts.objects, *parts.sightings);
  ASSIGN_OR_RETURN(auto pending, parts.sightings->ListPending());
  for (const auto& s : pending) server->Enqueue(s.id);
  for (auto& stage : server->stages_)
    server->workers_.emplace_back([s = server.get(), st = stage.get()] { s->Work(*st); });
  server->ReportGallery();
  if (config.serve.collection_refresh_ms > 0)
    server->refresher_ = std::thread(
        [s = server.get(), period = milliseconds(config.serve.collection_refresh_ms)] {
          s->RefreshCollection(period);
        });

  spdlog::info("serve: started workers={} resumed_pending={} visit_window_s={}", workers,
               pending.size(), config.serve.visit_window_s);
  return server;
}

Status Server::Subscribe(Bus* bus) {
  if (!bus) return Status::InvalidArgument("server needs a bus");
  const std::string filter = SightingFilter(bus_config_);
  RETURN_IF_ERROR(bus->Subscribe(filter, [this](const Message& m) { return HandleMessage(m); }));
  spdlog::info("serve: subscribed filter={}", filter);
  return Status::Ok();
}

Status Server::HandleMessage(const Message& message) {
  auto delay = kFirstRetry;
  for (;;) {
    auto result = ingest_.Ingest(message);
    if (result.ok()) {
      StorageRecovered();
      if (result->kind == IngestResult::Kind::kRecorded) ++recorded_;
      if (result->kind == IngestResult::Kind::kDuplicate) ++duplicates_;
      if (result->pending) Enqueue(result->sighting_id);
      return Status::Ok();
    }
    // Ingest's errors are storage trouble only (bad input is a kRejected result).
    StorageFailed("ingest", result.status());
    std::unique_lock lock(mu_);
    if (retry_cv_.wait_for(lock, delay, [&] { return ingest_stopped_; }))
      return Status::Unavailable("not stored, left with the broker: the server is stopping (" +
                                 result.status().message() + ")");
    delay = std::min(delay * 2, kMaxRetry);
  }
}

void Server::StorageFailed(const char* stage, const Status& status) {
  const auto now = Clock::now();
  std::lock_guard lock(trouble_mu_);
  if (!trouble_since_) {
    trouble_since_ = now;
    trouble_logged_ = now;
    spdlog::error("{}: storage is failing; holding sightings (unacknowledged, taking no more) "
                  "until it is back: {}", stage, status.ToString());
  } else if (now - trouble_logged_ >= kTroubleLogEvery) {
    trouble_logged_ = now;
    spdlog::error("{}: storage still failing after {} s; holding sightings: {}", stage,
                  std::chrono::duration_cast<std::chrono::seconds>(now - *trouble_since_).count(),
                  status.ToString());
  }
}

void Server::StorageRecovered() {
  std::lock_guard lock(trouble_mu_);
  if (!trouble_since_) return;
  spdlog::info("serve: storage is back after {} s", std::chrono::duration_cast<std::chrono::seconds>(
                                                         Clock::now() - *trouble_since_)
                                                         .count());
  trouble_since_.reset();
}

Status Server::StorageStatus() const {
  std::lock_guard lock(trouble_mu_);
  if (!trouble_since_) return Status::Ok();
  return Status::Unavailable(
      "storing sightings has failed for " +
      std::to_string(
          std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - *trouble_since_)
              .count()) +
      " s (the cause is in the log)");
}

void Server::Enqueue(const std::string& id) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || !queued_.insert(id).second) return;
    queue_.push_back(id);
  }
  work_cv_.notify_one();
}

void Server::Work(RecognitionStage& stage) {
  for (;;) {
    std::string id;
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] { return stopping_ || hurry_ || !queue_.empty(); });
      if (queue_.empty() || hurry_) return;  // stopping and drained, or told to hurry
      id = std::move(queue_.front());
      queue_.pop_front();
      ++busy_;
    }
    // Storage trouble is waited out like ingest's; Hurry (or the stop timeout) ends the wait.
    Status status;
    auto delay = kFirstRetry;
    for (;;) {
      status = stage.Process(id).status();
      if (!Retryable(status)) break;
      StorageFailed("recognise", status);
      std::unique_lock lock(mu_);
      if (work_cv_.wait_for(lock, delay, [&] { return hurry_; })) break;
      delay = std::min(delay * 2, kMaxRetry);
    }
    if (status.ok()) StorageRecovered();
    if (status.ok()) {
      ++decided_;
    } else {
      ++failures_;
      spdlog::error("recognise: id={} left pending (retried at the next start): {}", id,
                    status.ToString());
    }
    bool idle = false;
    {
      std::lock_guard lock(mu_);
      --busy_;
      queued_.erase(id);
      idle = queue_.empty() && busy_ == 0;
      if (idle) idle_cv_.notify_all();
    }
    // Nothing waits: the heap recognition freed goes back to the system
    // (glibc keeps the worker threads' freed arenas otherwise; ~0.5 ms).
    if (idle) malloc_trim(0);
  }
}

void Server::RefreshCollection(milliseconds period) {
  std::unique_lock lock(mu_);
  while (!refresh_cv_.wait_for(lock, period, [&] { return stopping_; })) {
    lock.unlock();
    const Result<bool> reloaded = faces_->Refresh();
    if (!reloaded.ok()) {
      spdlog::warn("serve: cannot check the face collection for changes: {}",
                   reloaded.status().ToString());
    } else if (*reloaded) {
      spdlog::info("serve: face collection changed elsewhere; reloaded people={} faces={}",
                   faces_->person_count(), faces_->size());
      ReportGallery();
    }
    lock.lock();
  }
}

void Server::ReportGallery() {
  static Gauge& faces = Metrics().gauge("concierge_gallery_faces", "Faces in the collection");
  static Gauge& people =
      Metrics().gauge("concierge_gallery_people", "People in the collection");
  static Gauge& stale = Metrics().gauge(
      "concierge_gallery_stale_faces", "Faces embedded by other models, waiting for a reindex");
  static Gauge& threshold = Metrics().gauge(
      "concierge_match_threshold", "Primary-model cosine threshold calibrated to the gallery");
  faces.Set(static_cast<double>(faces_->size()));
  people.Set(static_cast<double>(faces_->person_count()));
  stale.Set(static_cast<double>(faces_->stale_faces()));
  if (matcher_) threshold.Set(matcher_->calibration().primary_threshold);
}

void Server::Stop() {
  std::lock_guard stop(stop_mu_);
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  refresh_cv_.notify_all();
  for (auto& worker : workers_)
    if (worker.joinable()) worker.join();
  if (refresher_.joinable()) refresher_.join();
}

void Server::Hurry() {
  {
    std::lock_guard lock(mu_);
    hurry_ = true;
  }
  work_cv_.notify_all();
}

void Server::StopIngesting() {
  {
    std::lock_guard lock(mu_);
    ingest_stopped_ = true;
  }
  retry_cv_.notify_all();
}

Status Server::WaitIdle(milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (idle_cv_.wait_for(lock, timeout, [&] { return queue_.empty() && busy_ == 0; }))
    return Status::Ok();
  return Status::Unavailable(std::to_string(queue_.size() + busy_) +
                             " sightings still waiting for recognition");
}

ServerStats Server::Stats() const {
  ServerStats s;
  s.recorded = recorded_;
  s.duplicates = duplicates_;
  s.rejections = ingest_.rejections().Snapshot();
  s.rejected = ingest_.rejections().total();
  s.decided = decided_;
  s.failures = failures_;
  std::lock_guard lock(mu_);
  s.queued = queued_.size();
  return s;
}

}  // namespace concierge
