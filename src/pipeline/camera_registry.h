// Live status of the edge's cameras for the HTTP API: what each camera reads,
// whether it is delivering, its counters, and a preview (the latest frame with
// face boxes drawn, as JPEG). The edge writes through a CameraFeed per camera;
// the HTTP routes read. Preview frames are only drawn and encoded while
// somebody watches, and then at most kPreviewFps, so the edge pays nothing
// for the preview when nobody looks.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/status.h"
#include "core/types.h"
#include "pipeline/edge.h"

namespace concierge {

inline constexpr double kPreviewFps = 5;
inline constexpr int kPreviewMaxWidth = 960;  // wider frames are scaled down before encoding
inline constexpr int kPreviewJpegQuality = 75;
inline constexpr int kMaxPreviewWatchers = 4;  // per camera; each holds an HTTP thread

enum class CameraState { kStarting, kRunning, kReconnecting, kStopped, kError };

// "starting", "running", "reconnecting", "stopped" or "error".
const char* ToString(CameraState state);

struct CameraStatus {
  std::string name;
  std::string site;
  std::string source_kind;  // ToString(SourceKind): "device", "stream", "video file", ...
  CameraState state = CameraState::kStarting;
  double fps = 0;
  int64_t frames = 0;
  int64_t faces = 0;          // detections
  int64_t sightings = 0;      // handed to the sink
  int64_t last_frame_ms = 0;  // capture time of the latest frame; 0 before the first
  std::string error;          // latest error; empty when none
};

// One camera's entry. Thread-safe: the edge thread writes, HTTP threads read.
class CameraFeed {
 public:
  CameraFeed(std::string name, std::string site, std::string source_kind);

  // Takes the counters and latest error of `stats`, and the state.
  void Update(const CameraStats& stats, CameraState state);
  CameraStatus status() const;

  // True when somebody watches the preview and the next preview frame is due.
  // Lock-free when nobody watches, so the edge may ask on every frame.
  bool PreviewDue() const;
  // Needs an 8-bit BGR frame. Draws `faces` onto a scaled copy, encodes it and
  // wakes the watchers. Encoding errors are logged and the frame skipped.
  void PutPreview(const cv::Mat& bgr, const std::vector<Box>& faces);

  // A preview watcher; unregisters itself on destruction.
  class Watch {
   public:
    explicit Watch(CameraFeed* feed) : feed_(feed) {}
    ~Watch();
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;
    // Blocks until a preview frame newer than the last one returned here
    // arrives (its JPEG), `timeout` passes or the feed closes (both nullopt).
    std::optional<std::string> Next(std::chrono::milliseconds timeout);
    // True once the feed was closed: the watcher should end.
    bool closed() const;

   private:
    CameraFeed* const feed_;
    uint64_t seen_ = 0;
  };
  // Registers a watcher; kUnavailable when kMaxPreviewWatchers already watch.
  // The feed must outlive the watch.
  Result<std::unique_ptr<Watch>> WatchPreview();

  // Wakes every watcher and makes Next return nullopt from now on (shutdown).
  void Close();

 private:
  using SteadyClock = std::chrono::steady_clock;

  mutable std::mutex mu_;
  std::condition_variable preview_cv_;
  CameraStatus status_;
  std::string preview_jpeg_;
  uint64_t preview_seq_ = 0;
  bool closed_ = false;
  std::atomic<int> watchers_{0};
  std::atomic<int64_t> next_preview_ns_{0};  // steady clock; when the next preview is due
};

// Every camera of this process by name. Thread-safe; feeds live as long as the registry.
class CameraRegistry {
 public:
  // Adds a camera in state kStarting and returns its feed. kAlreadyExists when
  // the name is taken (names address cameras in the API, so they must be unique).
  Result<CameraFeed*> Add(const std::string& name, const std::string& site,
                          const std::string& source_kind);
  // Closes the camera's feed (its watchers end) and drops it from Find and
  // List; the feed itself stays alive with the registry, so a preview still
  // holding it stays safe. kNotFound when there is no such camera.
  Status Remove(const std::string& name);
  // The camera's feed, or nullptr.
  CameraFeed* Find(const std::string& name) const;
  // Status of every camera, by name.
  std::vector<CameraStatus> List() const;
  // Closes every feed (see CameraFeed::Close), e.g. before the HTTP server stops.
  void Close();

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<CameraFeed>> feeds_;
  std::vector<std::unique_ptr<CameraFeed>> removed_;  // closed; kept for their last watchers
};

}  // namespace concierge
