// Where the edge's frames come from: camera devices (V4L2), network streams
// (RTSP/HTTP through FFmpeg, or a GStreamer pipeline), video files, and drop
// folders of photos, all behind one pull interface.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>

#include <opencv2/core.hpp>

#include "core/status.h"
#include "core/types.h"
#include "vision/image_io.h"

namespace concierge {

enum class SourceKind { kDevice, kStream, kVideoFile, kDropFolder };

// The kind `spec` names: a device index or /dev/video*; a URL (scheme://) or a
// GStreamer pipeline (holds " ! "); an existing directory; else a video file.
SourceKind ClassifySource(const std::string& spec);

// "device", "stream", "video file" or "drop folder".
const char* ToString(SourceKind kind);

// `spec` with any user:password in a URL replaced by "***", safe to log.
std::string RedactSource(const std::string& spec);

struct Frame {
  cv::Mat bgr;              // 8-bit BGR
  int64_t captured_ms = 0;  // see docs/sighting-schema.md (captured_ms) per source kind
  CaptureClock clock = CaptureClock::kUnstated;  // what captured_ms was read from
  double decode_ms = 0;     // time spent reading and decoding it
  std::string name;         // the photo's file name (drop folders), else empty
};

enum class SourceRead { kFrame, kIdle, kEnd };

struct SourceOptions {
  std::string label;      // camera name, for log lines
  bool once = false;      // a drop folder ends once it is empty instead of waiting
  bool realtime = false;  // pace video files at their frame rate
  ImageLimits limits;     // photos over these are rejected
  int settle_ms = 500;    // a photo must be unchanged this long before it is read
  int poll_ms = 200;      // how often a drop folder is scanned
};

class FrameSource {
 public:
  virtual ~FrameSource() = default;

  // Blocks until the next frame (kFrame, `frame` filled), about half a second
  // without one (kIdle, so tracks can time out), the end of a video file or of
  // a drop folder in `once` mode, or `stop` (kEnd). Transient trouble (a
  // dropped stream, a corrupt photo) is handled inside, logged and counted in
  // errors(); a non-OK result means the source cannot go on.
  virtual Result<SourceRead> Next(Frame& frame, std::stop_token stop) = 0;

  // Called once per kFrame after its sightings went to the sink (`outcome` OK)
  // or failed to. A drop folder then moves the photo to processed/, or leaves
  // it in place for the next run so nothing is lost.
  virtual void Done(const Frame& frame, const Status& outcome);

  // True when frames are unrelated photos: nothing is tracked across them.
  virtual bool stills() const { return false; }

  // Transient errors so far and the latest one's message; safe from any thread.
  int64_t errors() const;
  std::string last_error() const;

 protected:
  // Logs `message` as a warning (prefixed with the camera label) and counts it.
  void NoteError(const std::string& label, const std::string& message);

 private:
  mutable std::mutex error_mu_;
  int64_t errors_ = 0;
  std::string last_error_;
};

// Opens the source `spec` names (see ClassifySource). Video files and folders
// are checked now (kNotFound, kInvalidArgument, kIoError); devices and streams
// connect in the background and reconnect with backoff whenever they drop.
Result<std::unique_ptr<FrameSource>> OpenFrameSource(const std::string& spec,
                                                     const SourceOptions& options);

}  // namespace concierge
