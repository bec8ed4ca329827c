// One camera's per-frame work in the edge stage: the motion gate, detection at
// the configured rate, tracking, and turning the tracker's publications into
// Sightings (crop with margin, JPEG, live score) for the sink. Not
// thread-safe: EdgeStage runs each camera on its own thread (the FaceEngine
// is thread-safe and shared by the cameras of its kind).
#pragma once

#include <chrono>
#include <cstdint>

#include <opencv2/core.hpp>

#include "core/config.h"
#include "core/metrics.h"
#include "core/status.h"
#include "pipeline/camera_registry.h"
#include "pipeline/edge.h"
#include "pipeline/face_tracker.h"
#include "pipeline/frame_source.h"
#include "pipeline/motion_gate.h"
#include "vision/face_engine.h"

namespace concierge {

// Faces in a sighting's picture are scaled down to at most this height: far
// more than any embedder needs, and it keeps payloads small.
inline constexpr int kMaxFacePx = 256;

// A sighting's picture: a track's views side by side, best first.
struct ViewStrip {
  cv::Mat picture;
  std::vector<Box> faces;  // each view's face box in `picture`
};

// Needs views with a frame and a face box in it. Each view is its face box
// plus `margin` times its width and height on each side, clipped to its
// frame, scaled so every face is as tall as the best one's (at most
// kMaxFacePx), and the views stand side by side on black. Views whose box
// misses their frame are left out; an empty strip when none is left.
ViewStrip ComposeViews(const std::vector<const TrackedFace*>& views, float margin);

class EdgeCamera {
 public:
  // Needs an engine that outlives the camera and a thread-safe sink.
  // `stills`: frames are unrelated photos, so every one is detected and each
  // of its faces is published on its own. `feed` (may be null, else must
  // outlive the camera) gets preview frames while somebody watches.
  EdgeCamera(const CameraConfig& camera, const EdgeConfig& edge, FaceEngine* engine,
             SightingSink sink, bool stills, CameraFeed* feed = nullptr);

  // Processes one frame: detects when due and the scene moved, updates the
  // tracks and hands due sightings to the sink. OK when every sighting due was
  // accepted, else the first error (the frame is still processed in full;
  // errors are counted in stats()).
  Status Process(const Frame& frame);

  // Time passes without frames (a dropped stream): ends tracks unseen for the
  // timeout, measured from the last frame's capture time plus the wall time since.
  Status Idle();

  // Ends every open track and publishes what is due.
  Status Flush();

  // Counters and mean timings so far (camera name filled; `finished` left to the caller).
  const CameraStats& stats() const { return stats_; }

 private:
  Result<std::vector<TrackedFace>> Detect(const Frame& frame);
  Status Publish(std::vector<TrackPublication> due);
  // The sighting for a publication, or nullopt when its best face fails the
  // human-face check (a dog, a clock: never a sighting).
  Result<std::optional<Sighting>> ToSighting(const TrackPublication& publication);
  void NoteError(const Status& status);

  const CameraConfig camera_;
  const EdgeConfig edge_;
  FaceEngine* const engine_;
  const SightingSink sink_;
  const bool stills_;
  CameraFeed* const feed_;
  FaceTracker tracker_;
  MotionGate gate_;
  int64_t next_detect_ms_ = INT64_MIN;  // capture time from which the next detection is due
  int64_t last_frame_ms_ = 0;
  std::chrono::steady_clock::time_point last_frame_wall_;
  CameraStats stats_;
  double decode_total_ = 0, detect_total_ = 0, track_total_ = 0;  // ms
  std::chrono::steady_clock::time_point fps_window_start_;
  int64_t fps_window_frames_ = 0;
  // Prometheus series (see Metrics()), looked up once.
  Counter& frames_total_;
  Counter& faces_total_;
  Counter& published_total_;
  Histogram& decode_seconds_;
  Histogram& detect_seconds_;
  Histogram& track_seconds_;
};

}  // namespace concierge
