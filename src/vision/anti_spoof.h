// Presentation-attack check: is this a live face or a photo/screen?
#pragma once

#include <memory>

#include <opencv2/core.hpp>

#include "core/status.h"
#include "core/types.h"
#include "vision/model_pack.h"

namespace concierge {

class AntiSpoof {
 public:
  virtual ~AntiSpoof() = default;
  // Needs the full BGR frame and the face box (the model looks at context
  // around the face). Returns the live probability in [0,1].
  virtual Result<float> LiveScore(const cv::Mat& bgr, const Box& face) = 0;
};

// Builds the model named by the pack's "anti_spoof" adapter, with `threads`
// inference threads.
Result<std::unique_ptr<AntiSpoof>> CreateAntiSpoof(const ModelPack& pack, int threads);

// The box scaled by `context` around its centre, shifted and shrunk to fit
// an image of `size` (the crop MiniFASNet-style models expect).
cv::Rect ContextCrop(const Box& face, float context, cv::Size size);

}  // namespace concierge
