// Face embedding: an aligned face in, a unit-length descriptor out. A pack may
// hold several embedders (models/manifest.json "embedders"); each vector is
// stored with its embedder's id and compared only with vectors of that id.
#pragma once

#include <memory>

#include <opencv2/core.hpp>

#include "core/status.h"
#include "core/types.h"
#include "vision/model_pack.h"

namespace concierge {

class FaceEmbedder {
 public:
  explicit FaceEmbedder(EmbedderSpec spec) : spec_(std::move(spec)) {}
  virtual ~FaceEmbedder() = default;
  // Needs a BGR face aligned to spec().align. Returns an L2-normalised
  // vector of spec().dimensions floats. Thread-safe.
  virtual Result<Embedding> Embed(const cv::Mat& aligned_bgr) = 0;
  const EmbedderSpec& spec() const { return spec_; }

 private:
  EmbedderSpec spec_;
};

// Builds the embedder named by `spec`'s adapter ("arcface" for ONNX models,
// "dlib_resnet" for dlib's ResNet) with `threads` inference threads. With
// `flip_augment`, an ONNX descriptor is the normalised sum of the face and
// its mirror image (twice the cost; measured no better, BENCHMARKS.md).
Result<std::unique_ptr<FaceEmbedder>> CreateFaceEmbedder(const EmbedderSpec& spec, int threads,
                                                         bool flip_augment);

// dlib's ResNet (dlib_resnet.cc, where dlib's network headers stay).
Result<std::unique_ptr<FaceEmbedder>> CreateDlibResNetEmbedder(const EmbedderSpec& spec);

// Scales `v` to unit length in place; a zero vector stays zero.
void L2Normalize(Embedding& v);

// Dot product of two equal-length vectors (cosine for unit vectors).
float Dot(const Embedding& a, const Embedding& b);

}  // namespace concierge
