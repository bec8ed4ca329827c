#include "pipeline/face_tracker.h"

#include <algorithm>

#include <opencv2/imgproc.hpp>

#include "pipeline/sighting.h"

namespace concierge {

namespace {

// Extrapolating further than this turns detector jitter into drift.
constexpr int64_t kMaxPredictMs = 1000;
// How much a new face moves a track's appearance: slow, so one bad frame does not.
constexpr float kAppearanceRate = 0.2f;
// Appearance weight in the match score; IoU stays the main cue.
constexpr float kAppearanceWeight = 0.5f;
// Quality comparisons tolerate float rounding (0.6 + 0.15 must reach 0.75).
constexpr float kEpsilon = 1e-5f;

}  // namespace

cv::Mat FaceAppearance(const cv::Mat& bgr, const Box& box) {
  const cv::Rect r =
      cv::Rect(cv::Rect2f(box.x, box.y, box.w, box.h)) & cv::Rect(0, 0, bgr.cols, bgr.rows);
  if (r.width < 2 || r.height < 2) return {};
  // A 32x32 thumbnail is plenty for a colour histogram and keeps big faces cheap.
  cv::Mat small, hsv, hist;
  cv::resize(bgr(r), small, cv::Size(32, 32), 0, 0, cv::INTER_AREA);
  cv::cvtColor(small, hsv, cv::COLOR_BGR2HSV);
  const int channels[] = {0, 1};
  const int bins[] = {16, 8};
  const float hue[] = {0, 180}, sat[] = {0, 256};
  const float* ranges[] = {hue, sat};
  cv::calcHist(&hsv, 1, channels, cv::Mat(), hist, 2, bins, ranges);
  cv::normalize(hist, hist, 1, 0, cv::NORM_L1);
  return hist;
}

float AppearanceSimilarity(const cv::Mat& a, const cv::Mat& b) {
  if (a.empty() || b.empty()) return -1;
  return 1.f - static_cast<float>(cv::compareHist(a, b, cv::HISTCMP_BHATTACHARYYA));
}

FaceTracker::FaceTracker(TrackerOptions options) : options_(options) {}

Box FaceTracker::Predict(const Track& t, int64_t now_ms) const {
  const float dt = static_cast<float>(std::clamp<int64_t>(now_ms - t.box_ms, 0, kMaxPredictMs));
  Box b = t.box;
  b.x += t.vx * dt;
  b.y += t.vy * dt;
  return b;
}

void FaceTracker::Absorb(Track& t, TrackedFace face, int64_t now_ms) {
  const Box& nb = face.face.box;
  if (t.hits > 0 && now_ms > t.box_ms) {
    const float dt = static_cast<float>(now_ms - t.box_ms);
    const float mx = (nb.x + nb.w / 2 - t.box.x - t.box.w / 2) / dt;
    const float my = (nb.y + nb.h / 2 - t.box.y - t.box.h / 2) / dt;
    // Smoothed, so detector jitter does not swing the prediction around.
    t.vx = t.hits == 1 ? mx : 0.5f * (t.vx + mx);
    t.vy = t.hits == 1 ? my : 0.5f * (t.vy + my);
  }
  t.box = nb;
  t.box_ms = now_ms;
  t.seen_ms = now_ms;
  if (!face.appearance.empty()) {
    if (t.appearance.empty())
      t.appearance = face.appearance.clone();
    else
      cv::addWeighted(t.appearance, 1 - kAppearanceRate, face.appearance, kAppearanceRate, 0,
                      t.appearance);
  }
  if (++t.hits == options_.min_hits) ++confirmed_;
  if (t.hits == 1) {
    t.best = std::move(face);
    return;
  }
  KeepView(t, std::move(face));
}

void FaceTracker::KeepView(Track& t, TrackedFace face) const {
  // All views, best first; a view within view_gap_ms of a better one adds
  // little (nearly the same picture), so it gives way.
  std::vector<TrackedFace> all;
  all.push_back(std::move(t.best));
  for (auto& v : t.others) all.push_back(std::move(v));
  all.push_back(std::move(face));
  std::stable_sort(all.begin(), all.end(), [](const TrackedFace& a, const TrackedFace& b) {
    return a.face.quality.score > b.face.quality.score;
  });
  std::vector<TrackedFace> kept;
  for (auto& v : all) {
    if (static_cast<int>(kept.size()) >= std::max(1, options_.views)) break;
    const bool close = std::any_of(kept.begin(), kept.end(), [&](const TrackedFace& k) {
      return std::llabs(k.captured_ms - v.captured_ms) < options_.view_gap_ms;
    });
    if (!close || kept.empty()) kept.push_back(std::move(v));
  }
  t.best = std::move(kept.front());
  t.others.assign(std::make_move_iterator(kept.begin() + 1), std::make_move_iterator(kept.end()));
}

bool FaceTracker::Due(const Track& t, bool ending) const {
  if (t.hits < options_.min_hits) return false;
  const float q = t.best.face.quality.score;
  if (t.published_quality < 0) return ending || q + kEpsilon >= options_.publish_quality;
  return q + kEpsilon >= t.published_quality + options_.update_gain;
}

TrackPublication FaceTracker::Publish(Track& t) {
  t.published_quality = t.best.face.quality.score;
  return {t.id, t.next_seq++, t.best, t.others};
}

std::vector<TrackPublication> FaceTracker::Update(std::vector<TrackedFace> faces, int64_t now_ms) {
  struct Candidate {
    float score;
    size_t track, face;
  };
  std::vector<Candidate> candidates;
  for (size_t ti = 0; ti < tracks_.size(); ++ti) {
    const Box predicted = Predict(tracks_[ti], now_ms);
    for (size_t fi = 0; fi < faces.size(); ++fi) {
      const float iou = IoU(predicted, faces[fi].face.box);
      if (iou < options_.min_iou) continue;
      const float sim = AppearanceSimilarity(tracks_[ti].appearance, faces[fi].appearance);
      if (sim >= 0 && sim < options_.min_similarity) continue;  // clearly someone else
      candidates.push_back({iou + kAppearanceWeight * (sim >= 0 ? sim : 0.5f), ti, fi});
    }
  }
  // Greedy by score: the best pairs claim their track and face first.
  std::sort(candidates.begin(), candidates.end(),
            [](const auto& a, const auto& b) { return a.score > b.score; });
  std::vector<bool> track_used(tracks_.size(), false), face_used(faces.size(), false);
  std::vector<size_t> touched;
  for (const auto& c : candidates) {
    if (track_used[c.track] || face_used[c.face]) continue;
    track_used[c.track] = face_used[c.face] = true;
    Absorb(tracks_[c.track], std::move(faces[c.face]), now_ms);
    touched.push_back(c.track);
  }
  for (size_t fi = 0; fi < faces.size(); ++fi) {
    if (face_used[fi]) continue;
    Track t;
    t.id = NewSightingId();
    Absorb(t, std::move(faces[fi]), now_ms);
    tracks_.push_back(std::move(t));
    touched.push_back(tracks_.size() - 1);
  }
  std::vector<TrackPublication> due;
  for (size_t ti : touched)
    if (Due(tracks_[ti], false)) due.push_back(Publish(tracks_[ti]));
  return due;
}

std::vector<TrackPublication> FaceTracker::Touch(int64_t now_ms) {
  std::vector<TrackPublication> due;
  for (auto& t : tracks_) {
    t.box_ms = t.seen_ms = now_ms;
    t.vx = t.vy = 0;
    if (++t.hits == options_.min_hits) ++confirmed_;
    if (Due(t, false)) due.push_back(Publish(t));
  }
  return due;
}

std::vector<TrackPublication> FaceTracker::Expire(int64_t now_ms) {
  const int64_t timeout_ms = static_cast<int64_t>(options_.timeout_s * 1000);
  std::vector<TrackPublication> due;
  std::erase_if(tracks_, [&](Track& t) {
    if (now_ms - t.seen_ms <= timeout_ms) return false;
    if (Due(t, true)) due.push_back(Publish(t));
    return true;
  });
  return due;
}

std::vector<TrackPublication> FaceTracker::Flush() {
  std::vector<TrackPublication> due;
  for (auto& t : tracks_)
    if (Due(t, true)) due.push_back(Publish(t));
  tracks_.clear();
  return due;
}

std::vector<Box> FaceTracker::OpenBoxes() const {
  std::vector<Box> boxes;
  for (const Track& t : tracks_) boxes.push_back(t.box);
  return boxes;
}

}  // namespace concierge
