// `concierge edge` as a library: stage 1 in its own process. Reads the
// cameras, publishes one sighting per face track to MQTT through the on-disk
// spool (so a broker outage or a restart loses nothing), and stops on SIGINT
// or SIGTERM, or with `once` at the end of its file and folder sources.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "pipeline/edge.h"

namespace concierge {

struct EdgeRunOptions {
  std::string source;         // one camera reading this; empty: config.edge.cameras
  std::string camera = "door";  // its name and site
  std::string site = "office";
  bool realtime = false;  // replay video files at their frame rate
  bool once = false;      // process file and folder sources to their end, drain, exit
  double drain_timeout_s = 30;  // how long to wait for the broker to take the spool at the end
  // Runs on a second SIGINT/SIGTERM (the spool keeps what is unsent); e.g. exit at once.
  std::function<void()> on_second_signal;
};

struct EdgeCameraReport {
  CameraStats stats;
  std::string state;  // the camera's last state ("streaming", "finished", ...)
};

struct EdgeRunReport {
  std::vector<EdgeCameraReport> cameras;
  size_t spool_pending = 0;  // sightings left in the spool for the next start
  // Why the run ended badly: a camera failed, or the broker did not take the
  // spool within drain_timeout_s. OK otherwise.
  Status outcome;
};

// Needs bus.kind "mqtt" and a camera (options.source or edge.cameras); `once`
// needs file or folder sources. Errors before any camera started come back
// as the Result's status; once running, it ends with a report.
Result<EdgeRunReport> RunEdge(Config config, const EdgeRunOptions& options);

}  // namespace concierge
