// Facial landmarks: the five points the aligner needs, from a square face crop.
#pragma once

#include <array>
#include <memory>

#include <opencv2/core.hpp>

#include "core/status.h"
#include "core/types.h"
#include "vision/model_pack.h"

namespace concierge {

using Landmarks68 = std::array<Point, 68>;

class LandmarkDetector {
 public:
  virtual ~LandmarkDetector() = default;
  // Needs a BGR image and a face box inside it. Returns the five alignment
  // points in image pixels, in ArcFace order. Thread-safe.
  virtual Result<FivePoints> Locate(const cv::Mat& bgr, const Box& face) = 0;
};

// Builds the landmark model named by the pack's "landmarks" adapter, with
// `threads` inference threads.
Result<std::unique_ptr<LandmarkDetector>> CreateLandmarkDetector(const ModelPack& pack, int threads);

// Eye centres (mean of the four lid points), nose tip and mouth corners
// (mean of outer and inner lip corner), in ArcFace order.
FivePoints ToFivePoints(const Landmarks68& points);

// The square crop around `face` that the landmark model was trained on,
// shifted to stay inside an image of `size`.
cv::Rect SquareCrop(const Box& face, cv::Size size);

}  // namespace concierge
