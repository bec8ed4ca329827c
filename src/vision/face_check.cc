#include "vision/face_check.h"

#include <algorithm>
#include <cmath>

#include "vision/onnx_model.h"

namespace concierge {

cv::Mat SquareContext(const cv::Mat& bgr, const Box& face, float context) {
  const float side = std::max(face.w, face.h) * context;
  const int s = std::max(2, static_cast<int>(std::lround(side)));
  const int x0 = static_cast<int>(std::lround(face.x + face.w / 2 - side / 2));
  const int y0 = static_cast<int>(std::lround(face.y + face.h / 2 - side / 2));
  cv::Mat square(s, s, CV_8UC3, cv::Scalar::all(0));
  const cv::Rect have = cv::Rect(x0, y0, s, s) & cv::Rect(0, 0, bgr.cols, bgr.rows);
  if (!have.empty())
    bgr(have).copyTo(square(cv::Rect(have.x - x0, have.y - y0, have.width, have.height)));
  return square;
}

namespace {

// BlazeFace (front, 128x128, keijiro's Barracuda export): two heads, a 16x16
// grid with 2 anchors and an 8x8 grid with 6, each anchor giving a logit and
// 16 regressors (box centre offset and size in input pixels, then 6 key points).
class BlazeFaceScorer : public FaceBoxScorer {
 public:
  BlazeFaceScorer(OnnxModel model, float context) : model_(std::move(model)), context_(context) {}

  Result<float> Score(const cv::Mat& bgr, const Box& face) override {
    if (face.w < 2 || face.h < 2) return Status::InvalidArgument("face box is empty");
    const cv::Mat square = SquareContext(bgr, face, context_);
    ASSIGN_OR_RETURN(auto out, model_.Run(square, {"scores_16", "boxes_16", "scores_8", "boxes_8"}));
    const float input = static_cast<float>(model_.spec().input.width);
    // The detection box, in crop-normalised units, centred at (0.5, 0.5).
    const float side = std::max(face.w, face.h) * context_;
    const float bw = face.w / side, bh = face.h / side;
    float best = 0;
    auto scan = [&](const cv::Mat& scores, const cv::Mat& boxes, int cells, int anchors) {
      const int n = cells * cells * anchors;
      if (static_cast<int>(scores.total()) < n || static_cast<int>(boxes.total()) < 16 * n) return;
      const float* sc = scores.ptr<float>();
      const float* bx = boxes.ptr<float>();
      for (int i = 0; i < n; ++i) {
        const float score = 1.f / (1.f + std::exp(-sc[i]));
        if (score <= best) continue;
        const int cell = i / anchors;
        const float* r = bx + 16 * i;
        const float cx = (static_cast<float>(cell % cells) + 0.5f) / cells + r[0] / input;
        const float cy = (static_cast<float>(cell / cells) + 0.5f) / cells + r[1] / input;
        const float ratio = std::max(r[2], r[3]) / input / std::max(bw, bh);
        if (std::fabs(cx - 0.5f) > bw / 2 || std::fabs(cy - 0.5f) > bh / 2) continue;
        if (ratio < 0.5f || ratio > 2.f) continue;
        best = score;
      }
    };
    scan(out[0], out[1], 16, 2);
    scan(out[2], out[3], 8, 6);
    return best;
  }

 private:
  OnnxModel model_;
  float context_;
};

}  // namespace

Result<std::unique_ptr<HumanFaceCheck>> HumanFaceCheck::Create(const ModelPack& pack, int threads) {
  ASSIGN_OR_RETURN(const ModelSpec first, pack.Get("face_check"));
  ASSIGN_OR_RETURN(const ModelSpec verifier, pack.Get("face_verifier"));
  if (first.adapter != "blazeface")
    return Status::InvalidArgument("no face check adapter named '" + first.adapter + "'");
  if (verifier.adapter != "dlib_mmod")
    return Status::InvalidArgument("no face verifier adapter named '" + verifier.adapter + "'");
  std::unique_ptr<HumanFaceCheck> check(new HumanFaceCheck());
  ASSIGN_OR_RETURN(OnnxModel model, OnnxModel::Load(first, threads));
  check->first_ =
      std::make_unique<BlazeFaceScorer>(std::move(model), first.extra.value("context", 1.8f));
  ASSIGN_OR_RETURN(check->verifier_, CreateDlibMmodScorer(verifier));
  check->accept_above_ = first.extra.value("accept_above", 0.88f);
  check->reject_below_ = first.extra.value("reject_below", 0.2f);
  check->verifier_threshold_ = verifier.extra.value("threshold", -0.5f);
  return check;
}

Result<HumanFaceVerdict> HumanFaceCheck::Check(const cv::Mat& bgr, const Box& face) {
  ASSIGN_OR_RETURN(const float first, first_->Score(bgr, face));
  if (first >= accept_above_) return HumanFaceVerdict{true, first};
  if (first < reject_below_) return HumanFaceVerdict{false, first};
  ASSIGN_OR_RETURN(const float margin, verifier_->Score(bgr, face));
  // MMOD's margin around its threshold, squashed so 0.5 is the boundary.
  const float score = 1.f / (1.f + std::exp(-2.f * (margin - verifier_threshold_)));
  return HumanFaceVerdict{score >= 0.5f, score};
}

}  // namespace concierge
