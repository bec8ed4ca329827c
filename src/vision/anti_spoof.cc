#include "vision/anti_spoof.h"

#include <algorithm>
#include <cmath>

#include "vision/onnx_model.h"

namespace concierge {

cv::Rect ContextCrop(const Box& face, float context, cv::Size size) {
  const float scale = std::min({context, (size.height - 1) / face.h, (size.width - 1) / face.w});
  const float w = face.w * scale, h = face.h * scale;
  const float x = std::clamp(face.x + face.w / 2 - w / 2, 0.f, std::max(0.f, size.width - 1 - w));
  const float y = std::clamp(face.y + face.h / 2 - h / 2, 0.f, std::max(0.f, size.height - 1 - h));
  return cv::Rect(static_cast<int>(x), static_cast<int>(y), std::max(1, static_cast<int>(w)),
                  std::max(1, static_cast<int>(h))) &
         cv::Rect(0, 0, size.width, size.height);
}

namespace {

// MiniFASNet-style 3-class net: softmax over logits, one class means live.
class MiniFasNet : public AntiSpoof {
 public:
  MiniFasNet(OnnxModel model, float context, int live_class)
      : model_(std::move(model)), context_(context), live_class_(live_class) {}

  Result<float> LiveScore(const cv::Mat& bgr, const Box& face) override {
    if (face.w < 2 || face.h < 2) return Status::InvalidArgument("face box is empty");
    const cv::Rect crop = ContextCrop(face, context_, bgr.size());
    ASSIGN_OR_RETURN(auto outputs, model_.Run(bgr(crop), {"logits"}));
    const cv::Mat& logits = outputs[0];
    const float* v = logits.ptr<float>();
    const int n = static_cast<int>(logits.total());
    if (live_class_ >= n) return Status::Internal("anti-spoof model has too few classes");
    const float top = *std::max_element(v, v + n);
    double sum = 0;
    for (int i = 0; i < n; ++i) sum += std::exp(v[i] - top);
    return static_cast<float>(std::exp(v[live_class_] - top) / sum);
  }

 private:
  OnnxModel model_;
  float context_;
  int live_class_;
};

}  // namespace

Result<std::unique_ptr<AntiSpoof>> CreateAntiSpoof(const ModelPack& pack, int threads) {
  ASSIGN_OR_RETURN(ModelSpec spec, pack.Get("anti_spoof"));
  if (spec.adapter != "minifasnet")
    return Status::InvalidArgument("no anti-spoof adapter named '" + spec.adapter + "'");
  ASSIGN_OR_RETURN(OnnxModel model, OnnxModel::Load(spec, threads));
  return std::unique_ptr<AntiSpoof>(new MiniFasNet(std::move(model), spec.extra.value("context", 2.7f),
                                                   spec.extra.value("live_class", 1)));
}

}  // namespace concierge
