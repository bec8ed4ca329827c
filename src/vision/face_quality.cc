#include "vision/face_quality.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <opencv2/imgproc.hpp>

namespace concierge {

namespace {

float Ramp(float v, float lo, float hi) { return std::clamp((v - lo) / (hi - lo), 0.f, 1.f); }

std::string Reason(const char* what, float value, const char* op, float limit) {
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%s (%.0f %s %.0f)", what, value, op, limit);
  return buf;
}

}  // namespace

FaceQuality MeasureQuality(const cv::Mat& aligned, const Box& box, const FivePoints& p) {
  FaceQuality q;
  q.size_px = std::min(box.w, box.h);

  cv::Mat grey, lap;
  cv::cvtColor(aligned, grey, cv::COLOR_BGR2GRAY);
  // Only the inner face: background and hair would dominate the variance.
  const cv::Mat inner = grey(cv::Rect(24, 32, 64, 64));
  cv::Laplacian(inner, lap, CV_32F);
  cv::Scalar mean, stddev;
  cv::meanStdDev(lap, mean, stddev);
  q.sharpness = static_cast<float>(stddev[0] * stddev[0]);
  q.brightness = static_cast<float>(cv::mean(inner)[0]);

  // Pose from geometry: the nose drifts sideways from the eye midpoint when
  // the head turns, and up or down between eyes and mouth when it nods.
  const float eye_mx = (p[0].x + p[1].x) / 2, eye_my = (p[0].y + p[1].y) / 2;
  const float mouth_my = (p[3].y + p[4].y) / 2;
  const float half_eye = std::max(1.f, std::hypot(p[1].x - p[0].x, p[1].y - p[0].y) / 2);
  const float side = std::clamp((p[2].x - eye_mx) / (half_eye * 1.2f), -1.f, 1.f);
  q.yaw_deg = std::asin(side) * 180.f / float(M_PI);
  const float span = std::max(1.f, mouth_my - eye_my);
  q.pitch_deg = std::clamp(((p[2].y - eye_my) / span - 0.49f) * 180.f, -90.f, 90.f);

  const float size_f = Ramp(q.size_px, 24, 96);
  const float sharp_f = Ramp(q.sharpness, 5, 80);
  const float pose_f = Ramp(60 - std::max(std::fabs(q.yaw_deg), std::fabs(q.pitch_deg)), 0, 45);
  const float light_f = std::min(Ramp(q.brightness, 20, 70), Ramp(255 - q.brightness, 20, 70));
  q.score = std::cbrt(size_f * sharp_f * pose_f) * (0.5f + 0.5f * light_f);
  return q;
}

std::string QualityRejection(const FaceQuality& q, const QualityGate& g) {
  if (q.size_px < g.min_face_px) return Reason("face too small", q.size_px, "<", g.min_face_px);
  if (q.sharpness < g.min_sharpness) return Reason("too blurry", q.sharpness, "<", g.min_sharpness);
  if (std::fabs(q.yaw_deg) > g.max_abs_yaw_deg)
    return Reason("head turned too far", std::fabs(q.yaw_deg), ">", g.max_abs_yaw_deg);
  if (std::fabs(q.pitch_deg) > g.max_abs_pitch_deg)
    return Reason("head tilted too far", std::fabs(q.pitch_deg), ">", g.max_abs_pitch_deg);
  if (q.brightness < g.min_brightness) return Reason("too dark", q.brightness, "<", g.min_brightness);
  if (q.brightness > g.max_brightness) return Reason("too bright", q.brightness, ">", g.max_brightness);
  return "";
}

}  // namespace concierge
