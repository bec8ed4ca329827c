// libconcierge-media.so: OpenCV's imgcodecs and videoio behind the
// MediaCodecs interface (vision/media_plugin.h). Built apart from
// libconcierge, which never links those modules.
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "vision/media_plugin.h"

namespace concierge {
namespace {

class OpenCvCapture final : public VideoCapture {
 public:
  bool Open(const std::string& source, int backend, const std::vector<int>& params) override {
    return cap_.open(source, backend, params);
  }
  bool OpenDevice(int index, int backend) override { return cap_.open(index, backend); }
  bool IsOpened() const override { return cap_.isOpened(); }
  bool Read(cv::Mat& frame) override { return cap_.read(frame); }
  double Get(int property) const override { return cap_.get(property); }
  std::string BackendName() const override { return cap_.getBackendName(); }
  void Release() override { cap_.release(); }

 private:
  cv::VideoCapture cap_;
};

class OpenCvCodecs final : public MediaCodecs {
 public:
  std::unique_ptr<VideoCapture> NewCapture() const override {
    return std::make_unique<OpenCvCapture>();
  }
  cv::Mat Decode(const std::string& bytes, int imread_flags) const override {
    const cv::Mat buf(1, static_cast<int>(bytes.size()), CV_8UC1,
                      const_cast<char*>(bytes.data()));
    return cv::imdecode(buf, imread_flags);
  }
  bool Encode(const std::string& extension, const cv::Mat& image, const std::vector<int>& params,
              std::vector<uchar>& out) const override {
    return cv::imencode(extension, image, out, params);
  }
};

}  // namespace
}  // namespace concierge

extern "C" __attribute__((visibility("default"))) const concierge::MediaCodecs*
concierge_media_codecs() {
  static const concierge::OpenCvCodecs codecs;
  return &codecs;
}
