#include "pipeline/motion_gate.h"

#include <algorithm>

#include <opencv2/imgproc.hpp>

namespace concierge {

MotionGate::MotionGate(MotionGateOptions options) : options_(options) {}

bool MotionGate::Changed(const cv::Mat& bgr) {
  const int width = std::min(options_.width, bgr.cols);
  const int height = std::max(1, bgr.rows * width / std::max(1, bgr.cols));
  // Nearest-neighbour shrinking is the cheap part; the blur afterwards removes
  // the sampling and sensor noise it leaves.
  cv::Mat small, grey;
  cv::resize(bgr, small, cv::Size(width, height), 0, 0, cv::INTER_NEAREST);
  cv::cvtColor(small, grey, cv::COLOR_BGR2GRAY);
  cv::GaussianBlur(grey, grey, cv::Size(5, 5), 0);
  if (reference_.empty() || bgr.size() != frame_size_) {
    reference_ = grey;
    frame_size_ = bgr.size();
    return true;
  }
  cv::Mat diff;
  cv::absdiff(grey, reference_, diff);
  const int changed = cv::countNonZero(diff > options_.pixel_threshold);
  if (changed < options_.min_changed * static_cast<float>(diff.total())) return false;
  reference_ = grey;
  return true;
}

}  // namespace concierge
