#include "pipeline/edge.h"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <stop_token>
#include <thread>
#include <utility>

#include <spdlog/spdlog.h>

#include "pipeline/camera_registry.h"
#include "pipeline/edge_camera.h"
#include "pipeline/frame_source.h"
#include "vision/face_engine.h"

namespace concierge {

// Camera and site names end up in MQTT topics and object keys downstream.
Status ValidateCameraName(const char* what, const std::string& value) {
  const bool ok =
      !value.empty() && value.size() <= 64 && std::all_of(value.begin(), value.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
      });
  if (ok) return Status::Ok();
  return Status::InvalidArgument(std::string("camera ") + what + " '" + value +
                                 "' must be 1..64 characters of [A-Za-z0-9_-]");
}

namespace {

Status CheckCamera(const CameraConfig& camera) {
  RETURN_IF_ERROR(ValidateCameraName("name", camera.name));
  RETURN_IF_ERROR(ValidateCameraName("site", camera.site));
  if (camera.detect_fps < 0)
    return Status::InvalidArgument("camera " + camera.name + ": detect_fps must be >= 0");
  return Status::Ok();
}

Status CheckConfig(const Config& config) {
  const EdgeConfig& edge = config.edge;
  if (edge.cameras.empty())
    return Status::InvalidArgument("no cameras: set edge.cameras or pass --source");
  if (edge.track_timeout_s <= 0) return Status::InvalidArgument("edge.track_timeout_s must be > 0");
  if (edge.crop_margin < 0) return Status::InvalidArgument("edge.crop_margin must be >= 0");
  if (edge.jpeg_quality < 1 || edge.jpeg_quality > 100)
    return Status::InvalidArgument("edge.jpeg_quality must be 1..100");
  if (edge.update_gain <= 0) return Status::InvalidArgument("edge.update_gain must be > 0");
  std::set<std::pair<std::string, std::string>> names;
  for (const auto& camera : edge.cameras) {
    RETURN_IF_ERROR(CheckCamera(camera));
    if (!names.insert({camera.site, camera.name}).second)
      return Status::InvalidArgument("camera " + camera.site + "/" + camera.name +
                                     " is configured twice");
  }
  return Status::Ok();
}

// One camera: its engine, source and pipeline, run on its own thread.
struct Worker {
  CameraConfig camera;
  std::shared_ptr<FaceEngine> engine;  // shared with the cameras of its kind
  std::unique_ptr<FrameSource> source;
  std::unique_ptr<EdgeCamera> pipeline;
  CameraFeed* feed = nullptr;  // null without a registry
  // The source's error count at its latest frame: errors beyond it are current.
  int64_t source_errors_at_frame = 0;  // the camera thread's
  std::jthread thread;
  // Guarded by EdgeStageImpl::mu_.
  CameraStats stats;
  Status result;
  bool done = false;
};

class EdgeStageImpl final : public EdgeStage {
 public:
  EdgeStageImpl(const Config& config, SightingSink sink, bool once, CameraRegistry* cameras,
                FaceEngine* stills_engine)
      : config_(config), sink_(std::move(sink)), once_(once), cameras_(cameras) {
    // Not owned: the aliasing constructor shares nothing but the pointer.
    if (stills_engine)
      engines_[true] = std::shared_ptr<FaceEngine>(std::shared_ptr<FaceEngine>(), stills_engine);
  }
  ~EdgeStageImpl() override { Stop(); }

  // Starts every camera of the config; on an error the ones started are stopped.
  Status StartAll() {
    for (const auto& camera : config_.edge.cameras) RETURN_IF_ERROR(AddCamera(camera));
    return Status::Ok();
  }

  Status Wait() override {
    std::unique_lock lock(mu_);
    all_done_.wait(lock, [&] {
      return stopped_ || (!workers_.empty() && std::all_of(workers_.begin(), workers_.end(),
                                                           [](const auto& w) { return w->done; }));
    });
    for (const auto& w : workers_)
      if (w->done && !w->result.ok()) return w->result;
    return Status::Ok();
  }

  void Stop() override {
    std::lock_guard control(control_mu_);
    std::vector<Worker*> all;
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
      for (auto& w : workers_) all.push_back(w.get());
    }
    for (Worker* w : all) w->thread.request_stop();
    for (Worker* w : all)
      if (w->thread.joinable()) w->thread.join();
    all_done_.notify_all();
  }

  std::vector<CameraStats> Stats() const override {
    std::lock_guard lock(mu_);
    std::vector<CameraStats> all;
    for (const auto& w : workers_) all.push_back(w->stats);
    return all;
  }

  Status AddCamera(const CameraConfig& camera) override {
    std::lock_guard control(control_mu_);
    RETURN_IF_ERROR(CheckCamera(camera));
    {
      std::lock_guard lock(mu_);
      if (stopped_) return Status::FailedPrecondition("the edge is stopping");
      if (FindLocked(camera.name) != workers_.end())
        return Status::AlreadyExists("camera '" + camera.name + "' already runs");
    }
    ASSIGN_OR_RETURN(std::unique_ptr<Worker> worker, MakeWorker(camera));
    Worker* w = worker.get();
    w->stats = w->pipeline->stats();
    {
      std::lock_guard lock(mu_);
      workers_.push_back(std::move(worker));
    }
    w->thread = std::jthread([this, w](std::stop_token stop) { Run(*w, stop); });
    return Status::Ok();
  }

  Status RemoveCamera(const std::string& name) override {
    std::lock_guard control(control_mu_);
    return RemoveLocked(name);
  }

  Status ReplaceCamera(const CameraConfig& camera) override {
    RETURN_IF_ERROR(RemoveCamera(camera.name));
    return AddCamera(camera);
  }

 private:
  // Copies the pipeline's counters (plus source errors) into the worker and its feed.
  void Snapshot(Worker& w, bool finished, CameraState state) {
    CameraStats stats = w.pipeline->stats();
    // Source trouble (reconnects, rejected photos) counts as camera errors too,
    // and shows until the source delivers a frame again.
    if (const int64_t source_errors = w.source->errors(); source_errors > 0) {
      stats.errors += source_errors;
      if (stats.last_error.empty() && source_errors > w.source_errors_at_frame)
        stats.last_error = w.source->last_error();
    }
    if (w.feed) w.feed->Update(stats, state);
    std::lock_guard lock(mu_);
    stats.finished = finished || w.stats.finished;
    w.stats = std::move(stats);
  }

  void Run(Worker& w, std::stop_token stop) {
    spdlog::info("{}: {} {} at site {}", w.camera.name, ToString(ClassifySource(w.camera.source)),
                 RedactSource(w.camera.source), w.camera.site);
    Status result;
    bool ended = false;
    CameraState state = CameraState::kStarting;
    while (!stop.stop_requested()) {
      Frame frame;
      auto read = w.source->Next(frame, stop);
      if (!read.ok()) {
        result = read.status();
        spdlog::error("{}: {}", w.camera.name, result.ToString());
        break;
      }
      if (*read == SourceRead::kEnd) {
        ended = !stop.stop_requested();
        break;
      }
      if (*read == SourceRead::kFrame) {
        const Status processed = w.pipeline->Process(frame);
        w.source->Done(frame, processed);
        state = CameraState::kRunning;
        w.source_errors_at_frame = w.source->errors();
      } else {
        w.pipeline->Idle();
        if (w.source->errors() > w.source_errors_at_frame) state = CameraState::kReconnecting;
      }
      Snapshot(w, false, state);
    }
    w.pipeline->Flush();
    Snapshot(w, ended, result.ok() ? CameraState::kStopped : CameraState::kError);
    if (ended && !once_) {
      // Without --once a finished source keeps its camera up until Stop, like a live one.
      std::mutex idle_mu;
      std::condition_variable_any idle;
      std::unique_lock idle_lock(idle_mu);
      idle.wait(idle_lock, stop, [] { return false; });
    }
    std::lock_guard lock(mu_);
    w.result = result;
    w.done = true;
    all_done_.notify_all();
  }

  // Needs control_mu_ held.
  Status RemoveLocked(const std::string& name) {
    Worker* w = nullptr;
    {
      std::lock_guard lock(mu_);
      const auto it = FindLocked(name);
      if (it == workers_.end()) return Status::NotFound("no camera '" + name + "' runs");
      w = it->get();
    }
    w->thread.request_stop();
    if (w->thread.joinable()) w->thread.join();  // flushes its open tracks
    if (w->feed) (void)cameras_->Remove(name);
    std::lock_guard lock(mu_);
    workers_.erase(FindLocked(name));
    spdlog::info("{}: removed", name);
    return Status::Ok();
  }

  // Needs mu_ held.
  std::vector<std::unique_ptr<Worker>>::iterator FindLocked(const std::string& name) {
    return std::find_if(workers_.begin(), workers_.end(),
                        [&](const auto& w) { return w->camera.name == name; });
  }

  // The camera's source, engine, feed and pipeline, ready to run.
  Result<std::unique_ptr<Worker>> MakeWorker(const CameraConfig& camera) {
    auto w = std::make_unique<Worker>();
    w->camera = camera;
    SourceOptions options;
    options.label = camera.name;
    options.once = once_;
    options.realtime = camera.realtime;
    options.limits = {config_.vision.max_image_bytes, config_.vision.max_image_pixels};
    auto source = OpenFrameSource(camera.source, options);
    if (!source.ok()) {
      spdlog::error("camera {}: cannot open its source", camera.name);
      return source.status();
    }
    w->source = std::move(source).value();
    ASSIGN_OR_RETURN(w->engine, EngineFor(w->source->stills()));
    if (cameras_) {
      ASSIGN_OR_RETURN(w->feed, cameras_->Add(camera.name, camera.site,
                                              ToString(ClassifySource(camera.source))));
    }
    w->pipeline = std::make_unique<EdgeCamera>(camera, config_.edge, w->engine.get(), sink_,
                                               w->source->stills(), w->feed);
    return w;
  }

  // The engine for sources of stills or of video, loaded by the first such
  // camera. The engine is thread-safe: cameras of a kind share one copy of
  // the models. Called under control_mu_.
  Result<std::shared_ptr<FaceEngine>> EngineFor(bool stills) {
    std::shared_ptr<FaceEngine>& engine = engines_[stills];
    if (!engine) {
      VisionConfig vision = config_.vision;
      if (!stills) vision.upscale_below_px = 0;  // see VisionConfig
      ASSIGN_OR_RETURN(engine, FaceEngine::Create(vision));
    }
    return engine;
  }

  const Config config_;
  const SightingSink sink_;
  const bool once_;
  CameraRegistry* const cameras_;
  std::mutex control_mu_;  // serialises adding, removing and stopping cameras
  std::map<bool, std::shared_ptr<FaceEngine>> engines_;  // by stills; guarded by control_mu_
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Worker>> workers_;  // guarded by mu_
  bool stopped_ = false;                          // guarded by mu_
  std::condition_variable all_done_;
};

}  // namespace

Result<std::unique_ptr<EdgeStage>> EdgeStage::Start(const Config& config, SightingSink sink,
                                                    bool once, CameraRegistry* cameras,
                                                    FaceEngine* stills_engine) {
  if (!sink) return Status::InvalidArgument("edge stage needs a sighting sink");
  RETURN_IF_ERROR(CheckConfig(config));
  auto stage =
      std::make_unique<EdgeStageImpl>(config, std::move(sink), once, cameras, stills_engine);
  RETURN_IF_ERROR(stage->StartAll());
  return std::unique_ptr<EdgeStage>(std::move(stage));
}

}  // namespace concierge
