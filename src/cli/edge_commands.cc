// `concierge edge`: its arguments and its summary; the stage itself runs in
// app/edge_runner.h (cameras, the on-disk spool, the broker).

#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "app/edge_runner.h"
#include "cli/cli.h"

namespace concierge::cli {

namespace {

nlohmann::json StatsJson(const EdgeCameraReport& camera) {
  const CameraStats& s = camera.stats;
  return {{"camera", s.camera},
          {"state", camera.state},
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

void PrintSummary(const EdgeRunReport& report) {
  std::fprintf(stderr, "%-16s %8s %8s %8s %8s %8s %9s %7s\n", "camera", "frames", "detected",
               "still", "faces", "tracks", "sightings", "errors");
  for (const auto& camera : report.cameras) {
    const CameraStats& s = camera.stats;
    std::fprintf(stderr, "%-16s %8lld %8lld %8lld %8lld %8lld %9lld %7lld\n", s.camera.c_str(),
                 static_cast<long long>(s.frames), static_cast<long long>(s.frames_detected),
                 static_cast<long long>(s.frames_skipped_still), static_cast<long long>(s.faces),
                 static_cast<long long>(s.tracks), static_cast<long long>(s.sightings),
                 static_cast<long long>(s.errors));
  }
  std::fprintf(stderr, "spool: %zu sightings waiting\n", report.spool_pending);
}

int RunEdgeCommand(Context& ctx, EdgeRunOptions options) {
  auto loaded = ctx.config();
  if (!loaded.ok()) return Fail(ctx, loaded.status());
  options.on_second_signal = [] { std::_Exit(kExitUnavailable); };
  const Result<EdgeRunReport> report = RunEdge(**loaded, options);
  if (!report.ok()) return Fail(ctx, report.status());
  PrintSummary(*report);
  if (!report->outcome.ok()) return Fail(ctx, report->outcome);
  if (ctx.json()) {
    nlohmann::json all = nlohmann::json::array();
    for (const auto& camera : report->cameras) all.push_back(StatsJson(camera));
    PrintJson({{"cameras", all}, {"spool_pending", report->spool_pending}});
  }
  return kExitOk;
}

}  // namespace

void RegisterEdgeCommands(CLI::App& app, Context& ctx, Runner* slot) {
  static EdgeRunOptions opts;
  CLI::App* edge =
      AddCommand(app, "edge", "Read cameras and publish face sightings to MQTT (stage 1)", slot,
                 [&ctx] { return RunEdgeCommand(ctx, opts); });
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
