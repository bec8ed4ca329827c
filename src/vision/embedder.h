// Face embedding: an aligned 112x112 face in, a unit-length descriptor out.
#pragma once

#include <memory>

#include <opencv2/core.hpp>

#include "core/status.h"
#include "core/types.h"
#include "vision/model_pack.h"

namespace concierge {

class FaceEmbedder {
 public:
  virtual ~FaceEmbedder() = default;
  // Needs an aligned BGR face at the model's input size. Returns an
  // L2-normalised vector of dimensions() floats.
  virtual Result<Embedding> Embed(const cv::Mat& aligned_bgr) = 0;
  virtual int dimensions() const = 0;
};

// Builds the embedder named by the pack's "embedder" adapter. With
// `flip_augment`, the descriptor is the normalised sum of the face and its
// mirror image (more robust, twice the cost).
Result<std::unique_ptr<FaceEmbedder>> CreateFaceEmbedder(const ModelPack& pack, bool flip_augment);

// Scales `v` to unit length in place; a zero vector stays zero.
void L2Normalize(Embedding& v);

// Dot product of two equal-length vectors (cosine for unit vectors).
float Dot(const Embedding& a, const Embedding& b);

}  // namespace concierge
