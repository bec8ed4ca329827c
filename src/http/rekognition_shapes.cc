#include "http/rekognition_shapes.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/hash.h"

namespace concierge {

namespace {

using json = nlohmann::json;

constexpr double kThresholdPercent = 80;
constexpr char kFaceIdPrefix[] = "cc000000-0000-4000-8000-";
constexpr size_t kFaceIdPrefixChars = sizeof(kFaceIdPrefix) - 1;
constexpr int64_t kMaxRow = (int64_t{1} << 48) - 1;  // 12 hex digits
// Variance of the Laplacian that reads as Sharpness 50 (of 100).
constexpr double kHalfSharpness = 50;
constexpr float kHighBarDetectorScore = 0.9f;

double Clamp(double v, double lo, double hi) { return std::min(hi, std::max(lo, v)); }

// Rounded to 6 decimals: finer than any pixel, and stable JSON.
double Ratio(double part, double whole) {
  return whole > 0 ? std::round(part / whole * 1e6) / 1e6 : 0;
}

double Round2(double v) { return std::round(v * 100) / 100; }

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

}  // namespace

double SimilarityPercent(float cosine, float threshold) {
  const double t = Clamp(threshold, 1e-3, 1 - 1e-3);
  const double c = Clamp(cosine, 0, 1);
  const double percent = c <= t ? kThresholdPercent * c / t
                                : kThresholdPercent + (100 - kThresholdPercent) * (c - t) / (1 - t);
  return Clamp(percent, 0, 100);
}

std::string FaceIdForRow(int64_t row) {
  char tail[16];
  std::snprintf(tail, sizeof(tail), "%012llx",
                static_cast<unsigned long long>(Clamp(static_cast<double>(row), 0, kMaxRow)));
  return std::string(kFaceIdPrefix) + tail;
}

std::optional<int64_t> RowFromFaceId(std::string_view face_id) {
  if (face_id.size() != kFaceIdPrefixChars + 12 ||
      face_id.substr(0, kFaceIdPrefixChars) != kFaceIdPrefix)
    return std::nullopt;
  const std::string_view tail = face_id.substr(kFaceIdPrefixChars);
  if (!IsLowerHex(tail)) return std::nullopt;
  const int64_t row = std::stoll(std::string(tail), nullptr, 16);
  if (row <= 0) return std::nullopt;
  return row;
}

std::string ImageIdFor(std::string_view bytes) {
  const std::string hex = Sha256Hex(bytes);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

std::optional<QualityBar> BarForFilter(const std::string& filter, const QualityGate& g) {
  if (filter == "NONE") return std::nullopt;
  QualityBar bar{g, 0};
  if (filter == "LOW") {
    bar.gate.min_face_px = g.min_face_px / 2;
    bar.gate.min_sharpness = g.min_sharpness / 2;
    bar.gate.max_abs_yaw_deg = g.max_abs_yaw_deg + 15;
    bar.gate.max_abs_pitch_deg = g.max_abs_pitch_deg + 15;
    bar.gate.min_brightness = g.min_brightness / 2;
    bar.gate.max_brightness = g.max_brightness + (255 - g.max_brightness) / 2;
  } else if (filter == "HIGH") {
    bar.gate.min_face_px = g.min_face_px * 1.5f;
    bar.gate.min_sharpness = g.min_sharpness * 2;
    bar.gate.max_abs_yaw_deg = g.max_abs_yaw_deg * 2 / 3;
    bar.gate.max_abs_pitch_deg = g.max_abs_pitch_deg * 2 / 3;
    bar.gate.min_brightness = g.min_brightness * 1.5f;
    bar.gate.max_brightness = g.max_brightness - g.min_brightness / 2;
    bar.min_detector_score = kHighBarDetectorScore;
  }
  return bar;  // AUTO and MEDIUM: the configured gate
}

std::vector<std::string> QualityReasons(const FaceObservation& face,
                                        const std::optional<QualityBar>& bar) {
  std::vector<std::string> reasons;
  if (!bar) return reasons;
  const FaceQuality& q = face.quality;
  const QualityGate& g = bar->gate;
  if (face.detector_score < bar->min_detector_score) reasons.push_back("LOW_CONFIDENCE");
  if (q.size_px < g.min_face_px) reasons.push_back("SMALL_BOUNDING_BOX");
  if (q.sharpness < g.min_sharpness) reasons.push_back("LOW_SHARPNESS");
  if (std::fabs(q.yaw_deg) > g.max_abs_yaw_deg || std::fabs(q.pitch_deg) > g.max_abs_pitch_deg)
    reasons.push_back("EXTREME_POSE");
  if (q.brightness < g.min_brightness || q.brightness > g.max_brightness)
    reasons.push_back("LOW_BRIGHTNESS");
  return reasons;
}

json BoundingBoxJson(const Box& box, int width, int height) {
  return {{"Width", Ratio(box.w, width)},
          {"Height", Ratio(box.h, height)},
          {"Left", Ratio(box.x, width)},
          {"Top", Ratio(box.y, height)}};
}

json FaceDetailJson(const FaceObservation& face, int width, int height) {
  static constexpr const char* kLandmarks[] = {"eyeLeft", "eyeRight", "nose", "mouthLeft",
                                               "mouthRight"};
  json landmarks = json::array();
  for (size_t i = 0; i < face.points.size(); ++i)
    landmarks.push_back({{"Type", kLandmarks[i]},
                         {"X", Ratio(face.points[i].x, width)},
                         {"Y", Ratio(face.points[i].y, height)}});
  const Point& left = face.points[0];
  const Point& right = face.points[1];
  const double roll = std::atan2(right.y - left.y, right.x - left.x) * 180.0 / M_PI;
  const double sharpness = std::max(0.f, face.quality.sharpness);
  return {{"BoundingBox", BoundingBoxJson(face.box, width, height)},
          {"Landmarks", std::move(landmarks)},
          {"Pose",
           {{"Roll", Round2(roll)},
            {"Yaw", Round2(face.quality.yaw_deg)},
            {"Pitch", Round2(face.quality.pitch_deg)}}},
          {"Quality",
           {{"Brightness", Round2(Clamp(face.quality.brightness / 255.0 * 100, 0, 100))},
            {"Sharpness", Round2(100 * sharpness / (sharpness + kHalfSharpness))}}},
          {"Confidence", Round2(Clamp(face.detector_score * 100.0, 0, 100))}};
}

}  // namespace concierge
