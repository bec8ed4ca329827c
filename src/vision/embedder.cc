#include "vision/embedder.h"

#include <cmath>

#include <opencv2/core.hpp>

#include "vision/onnx_model.h"

namespace concierge {

void L2Normalize(Embedding& v) {
  double sum = 0;
  for (float x : v) sum += double(x) * x;
  if (sum <= 0) return;
  const float inv = static_cast<float>(1.0 / std::sqrt(sum));
  for (float& x : v) x *= inv;
}

float Dot(const Embedding& a, const Embedding& b) {
  float s = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) s += a[i] * b[i];
  return s;
}

namespace {

// ArcFace-style: RGB, (x - 127.5) / 128-ish from the manifest, one output vector.
class ArcFaceEmbedder : public FaceEmbedder {
 public:
  ArcFaceEmbedder(OnnxModel model, int dims, bool flip)
      : model_(std::move(model)), dims_(dims), flip_(flip) {}

  Result<Embedding> Embed(const cv::Mat& aligned) override {
    std::vector<cv::Mat> batch{aligned};
    if (flip_) {
      cv::Mat mirrored;
      cv::flip(aligned, mirrored, 1);
      batch.push_back(mirrored);
    }
    Embedding sum(static_cast<size_t>(dims_), 0.f);
    for (const cv::Mat& image : batch) {
      ASSIGN_OR_RETURN(auto outputs, model_.Run({image}, {"embedding"}));
      const cv::Mat& out = outputs[0];
      if (static_cast<int>(out.total()) != dims_)
        return Status::Internal("embedder returned " + std::to_string(out.total()) +
                                " values, manifest says " + std::to_string(dims_));
      const float* v = out.ptr<float>();
      Embedding one(v, v + dims_);
      L2Normalize(one);
      for (size_t i = 0; i < one.size(); ++i) sum[i] += one[i];
    }
    L2Normalize(sum);
    return sum;
  }

  int dimensions() const override { return dims_; }

 private:
  OnnxModel model_;
  int dims_;
  bool flip_;
};

}  // namespace

Result<std::unique_ptr<FaceEmbedder>> CreateFaceEmbedder(const ModelPack& pack, bool flip_augment) {
  ASSIGN_OR_RETURN(ModelSpec spec, pack.Get("embedder"));
  if (spec.adapter != "arcface")
    return Status::InvalidArgument("no embedder adapter named '" + spec.adapter + "'");
  const int dims = spec.extra.value("dimensions", 512);
  ASSIGN_OR_RETURN(OnnxModel model, OnnxModel::Load(spec));
  return std::unique_ptr<FaceEmbedder>(new ArcFaceEmbedder(std::move(model), dims, flip_augment));
}

}  // namespace concierge
