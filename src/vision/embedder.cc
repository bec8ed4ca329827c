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

// ArcFace-style ONNX net: one output vector per face.
class OnnxEmbedder : public FaceEmbedder {
 public:
  OnnxEmbedder(EmbedderSpec spec, OnnxModel model, bool flip)
      : FaceEmbedder(std::move(spec)), model_(std::move(model)), flip_(flip) {}

  Result<Embedding> Embed(const cv::Mat& aligned) override {
    const int dims = spec().dimensions;
    Embedding sum(static_cast<size_t>(dims), 0.f);
    std::vector<cv::Mat> views{aligned};
    if (flip_) cv::flip(aligned, views.emplace_back(), 1);
    for (const cv::Mat& view : views) {
      ASSIGN_OR_RETURN(auto outputs, model_.Run(view, {"embedding"}));
      const cv::Mat& out = outputs[0];
      if (static_cast<int>(out.total()) != dims)
        return Status::Internal("embedder " + spec().model.name + " returned " +
                                std::to_string(out.total()) + " values, manifest says " +
                                std::to_string(dims));
      const float* v = out.ptr<float>();
      Embedding one(v, v + dims);
      L2Normalize(one);
      for (size_t i = 0; i < one.size(); ++i) sum[i] += one[i];
    }
    L2Normalize(sum);
    return sum;
  }

 private:
  OnnxModel model_;
  bool flip_;
};

}  // namespace

Result<std::unique_ptr<FaceEmbedder>> CreateFaceEmbedder(const EmbedderSpec& spec, int threads,
                                                         bool flip_augment) {
  const std::string& adapter = spec.model.adapter;
  if (adapter == "dlib_resnet") return CreateDlibResNetEmbedder(spec);
  if (adapter != "arcface")
    return Status::InvalidArgument("no embedder adapter named '" + adapter + "'");
  ASSIGN_OR_RETURN(OnnxModel model, OnnxModel::Load(spec.model, threads));
  return std::unique_ptr<FaceEmbedder>(new OnnxEmbedder(spec, std::move(model), flip_augment));
}

}  // namespace concierge
