// `concierge edge`: stage 1 as its own process. Reads cameras, publishes one
// sighting per face track to MQTT through an on-disk spool, so a broker
// outage or a restart loses nothing.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "bus/bus.h"
#include "bus/spool.h"
#include "cli/cli.h"
#include "pipeline/camera_registry.h"
#include "pipeline/edge.h"
#include "pipeline/frame_source.h"

namespace concierge::cli {

namespace {

struct EdgeOptions {
  std::string source;
  std::string camera = "door";
  std::string site = "office";
  bool realtime = false;
  bool once = false;
  double drain_timeout_s = 30;
};

// Turns SIGINT/SIGTERM into a wake-up of Wait(). A second signal while
// shutting down exits at once: every sighting is already durable in the
// spool, so waiting for the broker is a courtesy the operator may decline.
// Construct before any thread starts so every thread inherits the mask.
class StopSignals {
 public:
  StopSignals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    watcher_ = std::thread([this] {
      const timespec tick{0, 100'000'000};
      while (!closing_) {
        const int sig = sigtimedwait(&set_, nullptr, &tick);
        if (sig <= 0) continue;
        if (Notify()) {
          spdlog::info("edge: {}: stopping cameras, flushing tracks, draining the spool",
                       strsignal(sig));
        } else {
          spdlog::warn("edge: second {}: exiting now; unsent sightings stay in the spool",
                       strsignal(sig));
          std::_Exit(kExitUnavailable);
        }
      }
    });
  }
  ~StopSignals() {
    closing_ = true;
    watcher_.join();
  }

  // Wakes Wait(). True the first time.
  bool Notify() {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    stopping_ = true;
    cv_.notify_all();
    return true;
  }
  void Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return stopping_; });
  }

 private:
  sigset_t set_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::atomic<bool> closing_{false};
  std::thread watcher_;
};

// The cameras to run: the one --source names, or config.edge.cameras.
Status ChooseCameras(Config& config, const EdgeOptions& opts) {
  if (!opts.source.empty()) {
    CameraConfig camera;
    camera.name = opts.camera;
    camera.site = opts.site;
    camera.source = opts.source;
    config.edge.cameras = {camera};
  }
  if (config.edge.cameras.empty())
    return Status::InvalidArgument(
        "no camera: pass --source or list edge.cameras in the config file");
  for (auto& camera : config.edge.cameras) {
    camera.realtime = camera.realtime || opts.realtime;
    const SourceKind kind = ClassifySource(camera.source);
    if (opts.once && (kind == SourceKind::kDevice || kind == SourceKind::kStream))
      return Status::InvalidArgument("--once needs a video file or a drop folder, but camera '" +
                                     camera.name + "' reads a " + ToString(kind));
  }
  return Status::Ok();
}

nlohmann::json StatsJson(const CameraStats& s, const CameraRegistry& cameras) {
  const CameraFeed* feed = cameras.Find(s.camera);
  return {{"camera", s.camera},
          {"state", feed ? ToString(feed->status().state) : "unknown"},
          {"frames", s.frames},
          {"frames_detected", s.frames_detected},
          {"frames_skipped_still", s.frames_skipped_still},
          {"faces", s.faces},
          {"tracks", s.tracks},
          {"sightings", s.sightings},
          {"errors", s.errors},
          {"last_error", s.last_error},
          {"finished", s.finished},
          {"fps", s.fps},
          {"decode_ms", s.decode_ms},
          {"detect_ms", s.detect_ms},
          {"track_ms", s.track_ms}};
}

void PrintSummary(const std::vector<CameraStats>& stats, size_t pending) {
  std::fprintf(stderr, "%-16s %8s %8s %8s %8s %8s %9s %7s\n", "camera", "frames", "detected",
               "still", "faces", "tracks", "sightings", "errors");
  for (const auto& s : stats)
    std::fprintf(stderr, "%-16s %8lld %8lld %8lld %8lld %8lld %9lld %7lld\n", s.camera.c_str(),
                 static_cast<long long>(s.frames), static_cast<long long>(s.frames_detected),
                 static_cast<long long>(s.frames_skipped_still), static_cast<long long>(s.faces),
                 static_cast<long long>(s.tracks), static_cast<long long>(s.sightings),
                 static_cast<long long>(s.errors));
  std::fprintf(stderr, "spool: %zu sightings waiting\n", pending);
}

int RunEdge(Context& ctx, const EdgeOptions& opts) {
  auto loaded = ctx.config();
  if (!loaded.ok()) return Fail(ctx, loaded.status());
  Config config = **loaded;
  if (Status s = ChooseCameras(config, opts); !s.ok()) return Fail(ctx, s);
  if (config.bus.kind != "mqtt")
    return Fail(
        ctx, Status::FailedPrecondition(
                 "concierge edge publishes to an MQTT broker, but bus.kind is '" + config.bus.kind +
                 "'; set bus.kind to \"mqtt\" (or CONCIERGE_BUS_KIND=mqtt), or use `concierge run` "
                 "to keep edge and server in one process"));
  if (opts.drain_timeout_s < 0)
    return Fail(ctx, Status::InvalidArgument("--drain-timeout must be >= 0"));

  StopSignals signals;
  auto bus = OpenBus(config.bus, "edge");
  if (!bus.ok()) return Fail(ctx, bus.status());
  auto publisher =
      SpooledPublisher::Open(bus->get(), config.SpoolDir(), config.edge.spool_max_bytes);
  if (!publisher.ok()) return Fail(ctx, publisher.status());
  if (const size_t resumed = (*publisher)->pending(); resumed > 0)
    spdlog::info("edge: resuming {} spooled sightings from {}", resumed, config.SpoolDir());

  const std::string prefix = config.bus.topic_prefix;
  SpooledPublisher* outbox = publisher->get();
  CameraRegistry registry;
  auto stage = EdgeStage::Start(
      config,
      [outbox, prefix](const Sighting& s) {
        return outbox->Publish({SightingTopic(prefix, s.site, s.camera), EncodeSighting(s), 1});
      },
      opts.once, &registry);
  if (!stage.ok()) return Fail(ctx, stage.status());
  spdlog::info("edge: {} camera(s), broker {}:{}, spool {}", config.edge.cameras.size(),
               config.bus.mqtt.host, config.bus.mqtt.port, config.SpoolDir());

  Status cameras;
  std::thread waiter([&] {
    cameras = (*stage)->Wait();
    signals.Notify();
  });
  signals.Wait();
  (*stage)->Stop();  // flushes open tracks into the spool
  waiter.join();

  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(opts.drain_timeout_s * 1000));
  const Status drained = (*publisher)->Drain(timeout);
  const size_t pending = (*publisher)->pending();
  const auto stats = (*stage)->Stats();
  PrintSummary(stats, pending);
  publisher->reset();  // stops sending; whatever is left stays on disk
  (*bus)->Stop();

  if (!cameras.ok()) return Fail(ctx, cameras);
  if (!drained.ok())
    return Fail(ctx, Status::Unavailable("the broker at " + config.bus.mqtt.host + ":" +
                                         std::to_string(config.bus.mqtt.port) + " did not take " +
                                         std::to_string(pending) + " sightings within " +
                                         std::to_string(static_cast<int>(opts.drain_timeout_s)) +
                                         " s; they stay in the spool at " + config.SpoolDir() +
                                         " and are sent on the next start"));
  if (ctx.json()) {
    nlohmann::json all = nlohmann::json::array();
    for (const auto& s : stats) all.push_back(StatsJson(s, registry));
    PrintJson({{"cameras", all}, {"spool_pending", pending}});
  }
  return kExitOk;
}

}  // namespace

void RegisterEdgeCommands(CLI::App& app, Context& ctx, Runner* slot) {
  static EdgeOptions opts;
  CLI::App* edge =
      AddCommand(app, "edge", "Read cameras and publish face sightings to MQTT (stage 1)", slot,
                 [&ctx] { return RunEdge(ctx, opts); });
  CLI::Option* source = edge->add_option(
      "--source", opts.source,
      "One camera: device index or /dev/videoN, rtsp:// or http:// URL, video file or "
      "drop folder (default: edge.cameras from the config)");
  edge->add_option("--camera", opts.camera, "Camera name for --source")
      ->capture_default_str()
      ->needs(source);
  edge->add_option("--site", opts.site, "Site name for --source")
      ->capture_default_str()
      ->needs(source);
  edge->add_flag("--realtime", opts.realtime,
                 "Replay video files at their frame rate, not as fast as possible");
  edge->add_flag("--once", opts.once,
                 "Process file and folder sources to their end, drain the spool, exit");
  edge->add_option("--drain-timeout", opts.drain_timeout_s,
                   "Seconds to wait for the broker to take the spool before exiting")
      ->capture_default_str();
}

}  // namespace concierge::cli
