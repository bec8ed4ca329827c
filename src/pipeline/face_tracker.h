// Face tracks for the edge stage: associates each frame's detections with open
// tracks (IoU against a constant-velocity prediction, gated and weighted by a
// colour-histogram appearance cue), keeps each track's best few faces by quality,
// and decides when a track's crop is published: early once it is good enough,
// at the track's end otherwise, and again only on a clear gain.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/types.h"

namespace concierge {

struct TrackerOptions {
  float timeout_s = 1.5f;         // a track ends after this long unseen
  float publish_quality = 0.75f;  // publish early once the best face reaches this
  float update_gain = 0.15f;      // publish again only when quality rises by this much
  int min_hits = 2;             // detections before a track counts (drops one-off false positives)
  int views = 3;                // best faces kept per track (best first), at least view_gap_ms apart
  int64_t view_gap_ms = 300;
  float min_iou = 0.2f;         // overlap with the predicted box needed to match
  float min_similarity = 0.5f;  // appearance needed to match when both sides have a cue
};

// One detected face as the tracker sees it.
struct TrackedFace {
  FaceObservation face;
  cv::Mat appearance;  // FaceAppearance() of the face; may be empty (then IoU alone decides)
  cv::Mat frame;       // the frame it came from (shared, not copied), for the crop
  int64_t captured_ms = 0;
  CaptureClock clock = CaptureClock::kUnstated;
};

// A crop the tracker decided to publish.
struct TrackPublication {
  std::string track;  // stable id of the track, shared by its updates
  int seq = 0;        // 0 for the first publication of a track, then 1, 2, ...
  TrackedFace best;
  std::vector<TrackedFace> others;  // the track's next best faces, best first
};

// A small hue-saturation histogram of the inner face box (L1-normalised, CV_32F).
// Needs an 8-bit BGR frame; returns an empty Mat when the box misses the frame.
cv::Mat FaceAppearance(const cv::Mat& bgr, const Box& box);

// Similarity of two FaceAppearance() histograms in [0,1] (1 - Bhattacharyya
// distance); -1 when either is empty.
float AppearanceSimilarity(const cv::Mat& a, const cv::Mat& b);

class FaceTracker {
 public:
  explicit FaceTracker(TrackerOptions options);

  // Associates one frame's faces (taken at `now_ms`) with the open tracks,
  // starts tracks for the rest, and returns the publications now due (early
  // publishes and clear-gain updates). Each face joins at most one track.
  std::vector<TrackPublication> Update(std::vector<TrackedFace> faces, int64_t now_ms);

  // The scene has not changed since the last detection: every open track is
  // seen again at `now_ms`, where it was, and stops drifting. This counts as a
  // hit (the detector would have found the same faces), so a face that holds
  // still is confirmed and published just as one that moves. Returns the
  // publications now due.
  std::vector<TrackPublication> Touch(int64_t now_ms);

  // Ends tracks unseen for longer than the timeout at `now_ms` and returns
  // the final publication of those never published.
  std::vector<TrackPublication> Expire(int64_t now_ms);

  // Ends every track (end of source, stop) as Expire does.
  std::vector<TrackPublication> Flush();

  // Tracks not yet ended, confirmed or not.
  size_t open_tracks() const { return tracks_.size(); }
  // The last detected box of every open track, for drawing (the preview).
  std::vector<Box> OpenBoxes() const;
  // Tracks that reached min_hits so far; only these are ever published.
  int64_t confirmed_tracks() const { return confirmed_; }

 private:
  struct Track {
    std::string id;
    Box box;               // last detected box
    float vx = 0, vy = 0;  // centre velocity, px per ms
    int64_t box_ms = 0;    // when `box` was seen
    int64_t seen_ms = 0;   // last detection or Touch
    int hits = 0;
    cv::Mat appearance;  // running mean of the matched faces
    TrackedFace best;
    std::vector<TrackedFace> others;  // next best, best first, each view_gap_ms from the rest
    int next_seq = 0;
    float published_quality = -1;  // < 0 until first published
  };

  Box Predict(const Track& t, int64_t now_ms) const;
  void Absorb(Track& t, TrackedFace face, int64_t now_ms);
  // Keeps `face` among the track's best views if it earns a place.
  void KeepView(Track& t, TrackedFace face) const;
  // The publication due for `t` now, if any (`ending`: the track is over).
  bool Due(const Track& t, bool ending) const;
  TrackPublication Publish(Track& t);

  TrackerOptions options_;
  std::vector<Track> tracks_;
  int64_t confirmed_ = 0;
};

}  // namespace concierge
