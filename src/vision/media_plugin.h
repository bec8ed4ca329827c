// OpenCV's image codecs and video capture, behind a plugin. Those two OpenCV
// modules bring GDAL, GDCM, FFmpeg, GStreamer and some 140 shared libraries
// with them: about 55 MB resident from the process's first instruction
// (BENCHMARKS.md). They live in libconcierge-media.so instead, which a process
// loads the first time it opens a video or decodes or encodes a picture other
// than a JPEG (image_io does JPEG itself). A server fed JPEG crops never maps
// them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/status.h"

namespace concierge {

// The cv::VideoCapture calls Concierge makes, with its semantics: backends
// and properties are cv::CAP_* and cv::CAP_PROP_* values, and any call may
// throw cv::Exception. One thread at a time per capture.
class VideoCapture {
 public:
  virtual ~VideoCapture() = default;
  virtual bool Open(const std::string& source, int backend, const std::vector<int>& params) = 0;
  virtual bool OpenDevice(int index, int backend) = 0;
  virtual bool IsOpened() const = 0;
  // The next frame into `frame` (reallocated when shared); false at the end or on failure.
  virtual bool Read(cv::Mat& frame) = 0;
  virtual double Get(int property) const = 0;
  virtual std::string BackendName() const = 0;
  virtual void Release() = 0;
};

// What the plugin provides. Thread-safe.
class MediaCodecs {
 public:
  // A closed capture.
  virtual std::unique_ptr<VideoCapture> NewCapture() const = 0;
  // cv::imdecode: an empty Mat when the bytes do not decode. May throw cv::Exception.
  virtual cv::Mat Decode(const std::string& bytes, int imread_flags) const = 0;
  // cv::imencode to the format of `extension` (".png", ...): false when it cannot.
  // May throw cv::Exception.
  virtual bool Encode(const std::string& extension, const cv::Mat& image,
                      const std::vector<int>& params, std::vector<uchar>& out) const = 0;

 protected:
  ~MediaCodecs() = default;
};

// The plugin's one exported function: extern "C" const MediaCodecs* <this name>().
inline constexpr const char* kMediaCodecsEntryPoint = "concierge_media_codecs";

// Loads the plugin once per process (thread-safe) and keeps it loaded: from
// lib/concierge beside the executable's bin/ (installed), else from the build
// tree. kUnavailable naming the file and the loader's reason.
Result<const MediaCodecs*> LoadMediaCodecs();

// A closed capture from the plugin; kUnavailable as LoadMediaCodecs.
Result<std::unique_ptr<VideoCapture>> NewVideoCapture();

}  // namespace concierge
