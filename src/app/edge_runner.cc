#include "app/edge_runner.h"

#include <chrono>
#include <thread>

#include <spdlog/spdlog.h>

#include "app/shutdown_signal.h"
#include "bus/bus.h"
#include "bus/spool.h"
#include "pipeline/camera_registry.h"
#include "pipeline/frame_source.h"

namespace concierge {

namespace {

// The cameras to run: the one options.source names, or config.edge.cameras.
Status ChooseCameras(Config& config, const EdgeRunOptions& options) {
  if (!options.source.empty()) {
    CameraConfig camera;
    camera.name = options.camera;
    camera.site = options.site;
    camera.source = options.source;
    config.edge.cameras = {camera};
  }
  if (config.edge.cameras.empty())
    return Status::InvalidArgument(
        "no camera: pass --source or list edge.cameras in the config file");
  for (auto& camera : config.edge.cameras) {
    camera.realtime = camera.realtime || options.realtime;
    const SourceKind kind = ClassifySource(camera.source);
    if (options.once && (kind == SourceKind::kDevice || kind == SourceKind::kStream))
      return Status::InvalidArgument("--once needs a video file or a drop folder, but camera '" +
                                     camera.name + "' reads a " + ToString(kind));
  }
  return Status::Ok();
}

}  // namespace

Result<EdgeRunReport> RunEdge(Config config, const EdgeRunOptions& options) {
  RETURN_IF_ERROR(ChooseCameras(config, options));
  if (config.bus.kind != "mqtt")
    return Status::FailedPrecondition(
        "concierge edge publishes to an MQTT broker, but bus.kind is '" + config.bus.kind +
        "'; set bus.kind to \"mqtt\" (or CONCIERGE_BUS_KIND=mqtt), or use `concierge run` "
        "to keep edge and server in one process");
  if (options.drain_timeout_s < 0)
    return Status::InvalidArgument("--drain-timeout must be >= 0");

  // A second signal needs no wait: every sighting is already durable in the
  // spool, so waiting for the broker is a courtesy the operator may decline.
  ShutdownSignal::Block();
  ShutdownSignal signals("stop now; unsent sightings stay in the spool",
                         options.on_second_signal);
  ASSIGN_OR_RETURN(std::unique_ptr<Bus> bus, OpenBus(config.bus, "edge"));
  ASSIGN_OR_RETURN(std::unique_ptr<SpooledPublisher> publisher,
                   SpooledPublisher::Open(bus.get(), config.SpoolDir(),
                                          config.edge.spool_max_bytes));
  if (const size_t resumed = publisher->pending(); resumed > 0)
    spdlog::info("edge: resuming {} spooled sightings from {}", resumed, config.SpoolDir());

  const std::string prefix = config.bus.topic_prefix;
  SpooledPublisher* spool = publisher.get();
  CameraRegistry registry;
  ASSIGN_OR_RETURN(
      std::unique_ptr<EdgeStage> stage,
      EdgeStage::Start(
          config,
          [spool, prefix](const Sighting& s) {
            return spool->Publish({SightingTopic(prefix, s.site, s.camera), EncodeSighting(s), 1});
          },
          options.once, &registry));
  spdlog::info("edge: {} camera(s), broker {}:{}, spool {}", config.edge.cameras.size(),
               config.bus.mqtt.host, config.bus.mqtt.port, config.SpoolDir());

  Status cameras;
  std::thread waiter([&] {
    cameras = stage->Wait();
    signals.Notify("");
  });
  signals.Wait();
  stage->Stop();  // flushes open tracks into the spool
  waiter.join();

  const auto timeout =
      std::chrono::milliseconds(static_cast<int64_t>(options.drain_timeout_s * 1000));
  const Status drained = publisher->Drain(timeout);
  EdgeRunReport report;
  report.spool_pending = publisher->pending();
  for (CameraStats& s : stage->Stats()) {
    const CameraFeed* feed = registry.Find(s.camera);
    report.cameras.push_back({std::move(s), feed ? ToString(feed->status().state) : "unknown"});
  }
  publisher.reset();  // stops sending; whatever is left stays on disk
  bus->Stop();

  if (!cameras.ok()) {
    report.outcome = cameras;
  } else if (!drained.ok()) {
    report.outcome = Status::Unavailable(
        "the broker at " + config.bus.mqtt.host + ":" + std::to_string(config.bus.mqtt.port) +
        " did not take " + std::to_string(report.spool_pending) + " sightings within " +
        std::to_string(static_cast<int>(options.drain_timeout_s)) +
        " s; they stay in the spool at " + config.SpoolDir() + " and are sent on the next start");
  }
  return report;
}

}  // namespace concierge
