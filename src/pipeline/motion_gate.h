// The edge's motion gate: a cheap frame difference on a small, blurred grey
// copy of the frame, so the detector only runs when something in view moved.
#pragma once

#include <opencv2/core.hpp>

namespace concierge {

struct MotionGateOptions {
  int width = 160;             // frames are compared at this width
  int pixel_threshold = 18;    // grey-level change that marks a pixel as changed
  float min_changed = 0.002f;  // fraction of changed pixels that counts as motion
};

class MotionGate {
 public:
  explicit MotionGate(MotionGateOptions options = {});

  // Needs an 8-bit BGR frame. True when it differs from the reference, the
  // last frame that returned true (always true for the first frame or a new
  // frame size); that frame becomes the new reference. Comparing against the
  // last passing frame, not the previous one, lets slow change add up.
  bool Changed(const cv::Mat& bgr);

 private:
  MotionGateOptions options_;
  cv::Mat reference_;  // small blurred grey copy of the last passing frame
  cv::Size frame_size_;
};

}  // namespace concierge
