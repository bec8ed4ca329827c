#include "vision/landmarks.h"

#include <algorithm>

#include "vision/onnx_model.h"

namespace concierge {

cv::Rect SquareCrop(const Box& face, cv::Size size) {
  const float side = std::min({std::max(face.w, face.h), float(size.width), float(size.height)});
  float x = face.x + face.w / 2 - side / 2;
  float y = face.y + face.h / 2 - side / 2;
  x = std::clamp(x, 0.f, float(size.width) - side);
  y = std::clamp(y, 0.f, float(size.height) - side);
  const int s = std::max(1, static_cast<int>(side));
  return cv::Rect(static_cast<int>(x), static_cast<int>(y), s, s) & cv::Rect(0, 0, size.width, size.height);
}

FivePoints ToFivePoints(const Landmarks68& p) {
  auto mean = [&](std::initializer_list<int> idx) {
    Point m;
    for (int i : idx) {
      m.x += p[static_cast<size_t>(i)].x;
      m.y += p[static_cast<size_t>(i)].y;
    }
    m.x /= static_cast<float>(idx.size());
    m.y /= static_cast<float>(idx.size());
    return m;
  };
  return {mean({37, 38, 40, 41}), mean({43, 44, 46, 47}), p[30], mean({48, 60}), mean({54, 64})};
}

namespace {

// PFLD-style regressor: 64x64 grey crop in, 136 coordinates in [0,1] of the crop out.
class Pfld68Detector : public LandmarkDetector {
 public:
  Pfld68Detector(OnnxModel model, int refine) : model_(std::move(model)), refine_(refine) {}

  Result<FivePoints> Locate(const cv::Mat& bgr, const Box& face) override {
    ASSIGN_OR_RETURN(Landmarks68 points, LocateOnce(bgr, face));
    // Detector boxes sit loosely on the face; re-centring the crop on the
    // first estimate gives the model the framing it was trained on.
    for (int pass = 0; pass < refine_; ++pass) {
      float x0 = 1e9f, y0 = 1e9f, x1 = -1e9f, y1 = -1e9f;
      for (const auto& p : points) {
        x0 = std::min(x0, p.x), y0 = std::min(y0, p.y), x1 = std::max(x1, p.x), y1 = std::max(y1, p.y);
      }
      const Box centred{(x0 + x1) / 2 - face.w / 2, (y0 + y1) / 2 - face.h / 2, face.w, face.h};
      ASSIGN_OR_RETURN(points, LocateOnce(bgr, centred));
    }
    return ToFivePoints(points);
  }

 private:
  Result<Landmarks68> LocateOnce(const cv::Mat& bgr, const Box& face) {
    const cv::Rect crop = SquareCrop(face, bgr.size());
    if (crop.width < 2 || crop.height < 2) return Status::InvalidArgument("face box is outside the image");
    ASSIGN_OR_RETURN(auto outputs, model_.Run(bgr(crop), {"points"}));
    const cv::Mat& out = outputs[0];
    if (out.total() < 136) return Status::Internal("landmark model returned too few values");
    const float* v = out.ptr<float>();
    Landmarks68 points;
    for (size_t i = 0; i < 68; ++i)
      points[i] = {crop.x + v[2 * i] * crop.width, crop.y + v[2 * i + 1] * crop.height};
    return points;
  }

  OnnxModel model_;
  int refine_;
};

}  // namespace

Result<std::unique_ptr<LandmarkDetector>> CreateLandmarkDetector(const ModelPack& pack, int threads) {
  ASSIGN_OR_RETURN(ModelSpec spec, pack.Get("landmarks"));
  if (spec.adapter != "pfld68")
    return Status::InvalidArgument("no landmark adapter named '" + spec.adapter + "'");
  ASSIGN_OR_RETURN(OnnxModel model, OnnxModel::Load(spec, threads));
  return std::unique_ptr<LandmarkDetector>(new Pfld68Detector(std::move(model), spec.extra.value("refine", 0)));
}

}  // namespace concierge
