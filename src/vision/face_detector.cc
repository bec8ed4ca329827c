#include "vision/face_detector.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "vision/onnx_model.h"

namespace concierge {

std::vector<Detection> SuppressOverlaps(std::vector<Detection> detections, float iou) {
  std::sort(detections.begin(), detections.end(), [](const auto& a, const auto& b) { return a.score > b.score; });
  std::vector<Detection> kept;
  for (const auto& d : detections) {
    bool suppressed = false;
    for (const auto& k : kept) {
      // Also drop boxes mostly inside a stronger one (a chin, or a face cut at a tile edge).
      const float overlap = IoU(d.box, k.box);
      const float inter = overlap * (d.box.area() + k.box.area()) / (1 + overlap);
      if (overlap > iou || inter > 0.7f * std::min(d.box.area(), k.box.area())) {
        suppressed = true;
        break;
      }
    }
    if (!suppressed) kept.push_back(d);
  }
  return kept;
}

std::vector<cv::Rect> TileGrid(cv::Size frame, cv::Size tile, float overlap) {
  auto starts = [&](int total, int len) {
    std::vector<int> s;
    if (total <= len) return std::vector<int>{0};
    const int n = static_cast<int>(std::ceil((total - len * overlap) / (len * (1 - overlap))));
    for (int i = 0; i < n; ++i) s.push_back(static_cast<int>(std::lround(double(total - len) * i / (n - 1))));
    return s;
  };
  std::vector<cv::Rect> tiles;
  const int tw = std::min(tile.width, frame.width), th = std::min(tile.height, frame.height);
  for (int y : starts(frame.height, th))
    for (int x : starts(frame.width, tw)) tiles.emplace_back(x, y, tw, th);
  return tiles;
}

namespace {

// UltraFace (RFB-320): outputs `scores` [1,N,2] and `boxes` [1,N,4] with
// corners normalised to the input, so any region maps back by scaling.
class UltraFaceDetector : public FaceDetector {
 public:
  UltraFaceDetector(OnnxModel model, DetectorOptions options)
      : model_(std::move(model)), options_(options) {}

  Result<std::vector<Detection>> Detect(const cv::Mat& bgr) override {
    if (bgr.empty() || bgr.type() != CV_8UC3) return Status::InvalidArgument("detector needs a BGR image");
    // Tiles twice the detector input keep 10 px anchors near 20 px faces.
    const cv::Size tile(model_.spec().input.width * 2, model_.spec().input.height * 2);
    const bool upscale = std::max(bgr.cols, bgr.rows) < options_.upscale_below_px;
    cv::Mat scanned = bgr;
    if (upscale) cv::resize(bgr, scanned, cv::Size(), 2, 2, cv::INTER_LINEAR);
    std::vector<cv::Rect> regions{cv::Rect(0, 0, scanned.cols, scanned.rows)};
    if (upscale || (options_.tile_above_width > 0 && bgr.cols > options_.tile_above_width))
      for (const auto& r : TileGrid(scanned.size(), tile, 0.25f)) regions.push_back(r);
    std::vector<Detection> all;
    for (const auto& region : regions) {
      ASSIGN_OR_RETURN(auto outputs, model_.Run(scanned(region), {"scores", "boxes"}));
      Collect(outputs[0], outputs[1], region, scanned.size(), all);
    }
    if (upscale)
      for (Detection& d : all) d.box = {d.box.x / 2, d.box.y / 2, d.box.w / 2, d.box.h / 2};
    auto kept = SuppressOverlaps(std::move(all), options_.nms_threshold);
    std::erase_if(kept, [&](const Detection& d) {
      return std::min(d.box.w, d.box.h) < static_cast<float>(options_.min_face_px);
    });
    return kept;
  }

 private:
  void Collect(const cv::Mat& scores, const cv::Mat& boxes, const cv::Rect& region,
               cv::Size frame, std::vector<Detection>& out) const {
    const int n = static_cast<int>(scores.total() / 2);
    const float* s = scores.ptr<float>();
    const float* b = boxes.ptr<float>();
    for (int i = 0; i < n; ++i) {
      const float score = s[2 * i + 1];
      if (score < options_.score_threshold) continue;
      const float x1 = std::clamp(region.x + b[4 * i] * region.width, 0.f, float(frame.width));
      const float y1 = std::clamp(region.y + b[4 * i + 1] * region.height, 0.f, float(frame.height));
      const float x2 = std::clamp(region.x + b[4 * i + 2] * region.width, 0.f, float(frame.width));
      const float y2 = std::clamp(region.y + b[4 * i + 3] * region.height, 0.f, float(frame.height));
      if (x2 - x1 < 2 || y2 - y1 < 2) continue;
      out.push_back({Box{x1, y1, x2 - x1, y2 - y1}, score});
    }
  }

  OnnxModel model_;
  DetectorOptions options_;
};

}  // namespace

Result<std::unique_ptr<FaceDetector>> CreateFaceDetector(const ModelPack& pack,
                                                         const DetectorOptions& options) {
  ASSIGN_OR_RETURN(ModelSpec spec, pack.Get("detector"));
  if (spec.adapter != "ultraface")
    return Status::InvalidArgument("no detector adapter named '" + spec.adapter + "'");
  ASSIGN_OR_RETURN(OnnxModel model, OnnxModel::Load(spec, options.threads));
  return std::unique_ptr<FaceDetector>(new UltraFaceDetector(std::move(model), options));
}

}  // namespace concierge
