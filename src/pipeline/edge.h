// Stage 1, edge / facecrop: read cameras, detect and track faces, choose the
// best crop of each track, and hand one Sighting per track (plus rare
// "clearly better" updates) to a sink. One thread per camera.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "pipeline/sighting.h"

namespace concierge {

// Where finished sightings go: the in-process bus, or a spooled MQTT publisher.
// Must be thread-safe (every camera thread calls it). A non-OK status is
// logged and counted; the sink itself is responsible for not losing data.
using SightingSink = std::function<Status(const Sighting&)>;

struct CameraStats {
  std::string camera;
  int64_t frames = 0;            // frames read
  int64_t frames_detected = 0;   // frames the detector ran on
  int64_t frames_skipped_still = 0;  // skipped by the motion gate
  int64_t faces = 0;             // detections
  int64_t tracks = 0;            // tracks started
  int64_t sightings = 0;         // sightings handed to the sink (incl. updates)
  int64_t not_human = 0;         // publications dropped by the human-face check
  int64_t errors = 0;
  int64_t last_frame_ms = 0;
  double fps = 0;                // recent frames per second
  double decode_ms = 0, detect_ms = 0, track_ms = 0;  // mean per frame
  std::string last_error;        // the current trouble; cleared by the next good frame
  bool finished = false;         // file or folder source reached its end (--once)
};

class CameraRegistry;
class FaceEngine;

// OK when `value` can name a camera or site (`what`: "name" or "site"):
// 1..64 characters of [A-Za-z0-9_-], since it ends up in topics and object keys.
Status ValidateCameraName(const char* what, const std::string& value);

class EdgeStage {
 public:
  // Starts one thread per camera in config.edge.cameras. `once`: file and
  // folder sources stop at their end (and open tracks are flushed) instead of
  // waiting for more. Needs the models (config.vision) and a valid sink.
  // `cameras` (may be null, else must outlive the stage) gets every camera
  // added and kept up to date (state, counters, preview); camera names must
  // then be unique across sites. Cameras of stills share one engine, cameras
  // of video another; `stills_engine` (may be null, else loaded from
  // config.vision and outliving the stage) serves as the first, e.g. the
  // server's own in `concierge run`.
  static Result<std::unique_ptr<EdgeStage>> Start(const Config& config, SightingSink sink,
                                                  bool once, CameraRegistry* cameras = nullptr,
                                                  FaceEngine* stills_engine = nullptr);
  virtual ~EdgeStage() = default;

  // Blocks until every camera finished (only returns early-ish with `once`),
  // or Stop. Removing every camera does not end it: cameras may be added again.
  virtual Status Wait() = 0;
  // Asks every camera to stop, flushes open tracks to the sink, joins threads.
  virtual void Stop() = 0;

  // Changes at run time (e.g. from the API); thread-safe, each returns once done.
  // Starts reading `camera` like the cameras given to Start (same checks, the
  // engine for its kind loaded first if no camera loaded it yet). kAlreadyExists when its name is taken;
  // kFailedPrecondition after Stop.
  virtual Status AddCamera(const CameraConfig& camera) = 0;
  // Stops the camera `name`, flushing its open tracks to the sink, and drops
  // it from Stats and the registry. kNotFound when there is none.
  virtual Status RemoveCamera(const std::string& name) = 0;
  // RemoveCamera then AddCamera: the camera starts again with its new settings.
  virtual Status ReplaceCamera(const CameraConfig& camera) = 0;
  virtual std::vector<CameraStats> Stats() const = 0;
};

}  // namespace concierge
