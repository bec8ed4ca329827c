// The edge's face tracker and motion gate on synthetic input: association by
// IoU and appearance, track end, best-crop choice, early publish and updates.
#include <map>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "pipeline/edge_camera.h"
#include "pipeline/face_tracker.h"
#include "pipeline/motion_gate.h"

namespace concierge {
namespace {

// A face with a given box and quality; `tag` (stored as the detector score)
// tells the test which simulated person it was.
TrackedFace Face(float x, float y, float quality, float tag = 0.9f, cv::Mat appearance = {}) {
  TrackedFace f;
  f.face.box = {x, y, 100, 100};
  f.face.detector_score = tag;
  f.face.quality.score = quality;
  f.appearance = std::move(appearance);
  return f;
}

// The appearance of a flat-coloured face patch with a little texture.
cv::Mat Colour(const cv::Scalar& bgr) {
  cv::Mat patch(100, 100, CV_8UC3, bgr);
  cv::Mat noise(patch.size(), CV_8UC3);
  cv::randn(noise, cv::Scalar::all(0), cv::Scalar::all(8));
  patch += noise;
  return FaceAppearance(patch, {0, 0, 100, 100});
}

TrackerOptions Options() {
  TrackerOptions o;
  o.timeout_s = 1.5f;
  o.publish_quality = 0.75f;
  o.update_gain = 0.15f;
  o.min_hits = 2;
  return o;
}

TEST(FaceTracker, AssociatesOverlappingDetectionsIntoOneTrack) {
  FaceTracker tracker(Options());
  for (int i = 0; i < 10; ++i) {
    std::vector<TrackedFace> faces;
    faces.push_back(Face(100 + 8.f * i, 50, 0.3f));
    tracker.Update(std::move(faces), i * 100);
  }
  EXPECT_EQ(tracker.open_tracks(), 1u);
  EXPECT_EQ(tracker.confirmed_tracks(), 1);
  const auto end = tracker.Flush();
  ASSERT_EQ(end.size(), 1u);
  EXPECT_EQ(end[0].seq, 0);
  EXPECT_EQ(tracker.open_tracks(), 0u);
}

TEST(FaceTracker, DisjointDetectionsStartSeparateTracks) {
  FaceTracker tracker(Options());
  for (int i = 0; i < 3; ++i) {
    std::vector<TrackedFace> faces;
    faces.push_back(Face(0, 0, 0.3f));
    faces.push_back(Face(400, 0, 0.3f));
    tracker.Update(std::move(faces), i * 100);
  }
  EXPECT_EQ(tracker.open_tracks(), 2u);
  const auto end = tracker.Flush();
  ASSERT_EQ(end.size(), 2u);
  EXPECT_NE(end[0].track, end[1].track);
}

TEST(FaceTracker, TrackEndsOnlyAfterTimeoutUnseen) {
  FaceTracker tracker(Options());
  tracker.Update({Face(0, 0, 0.3f)}, 0);
  tracker.Update({Face(2, 0, 0.3f)}, 100);
  EXPECT_TRUE(tracker.Expire(1500).empty()) << "1.4 s unseen is within the 1.5 s timeout";
  EXPECT_EQ(tracker.open_tracks(), 1u);
  const auto ended = tracker.Expire(1601);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(tracker.open_tracks(), 0u);
  EXPECT_TRUE(tracker.Flush().empty()) << "an ended track is published once";
}

TEST(FaceTracker, ReturningFaceAfterTimeoutIsANewTrack) {
  FaceTracker tracker(Options());
  tracker.Update({Face(0, 0, 0.3f)}, 0);
  tracker.Update({Face(0, 0, 0.3f)}, 100);
  const auto first = tracker.Expire(2000);
  ASSERT_EQ(first.size(), 1u);
  tracker.Update({Face(0, 0, 0.3f)}, 2100);
  tracker.Update({Face(0, 0, 0.3f)}, 2200);
  const auto second = tracker.Flush();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_NE(first[0].track, second[0].track);
  EXPECT_EQ(tracker.confirmed_tracks(), 2);
}

TEST(FaceTracker, OneFrameBlipIsNeverPublished) {
  FaceTracker tracker(Options());
  tracker.Update({Face(0, 0, 0.9f)}, 0);  // good enough to publish early, but seen once
  EXPECT_TRUE(tracker.Expire(5000).empty());
  EXPECT_EQ(tracker.confirmed_tracks(), 0);
}

TEST(FaceTracker, KeepsTheBestCropByQuality) {
  FaceTracker tracker(Options());
  const float qualities[] = {0.30f, 0.62f, 0.41f, 0.55f};
  for (int i = 0; i < 4; ++i) tracker.Update({Face(3.f * i, 0, qualities[i])}, i * 100);
  const auto end = tracker.Flush();
  ASSERT_EQ(end.size(), 1u);
  EXPECT_FLOAT_EQ(end[0].best.face.quality.score, 0.62f);
  EXPECT_FLOAT_EQ(end[0].best.face.box.x, 3.f);
}

TEST(FaceTracker, PublishesEarlyThenUpdatesOnlyOnAClearGain) {
  FaceTracker tracker(Options());
  std::vector<TrackPublication> all;
  auto step = [&](int i, float q) {
    auto due = tracker.Update({Face(2.f * i, 0, q)}, i * 100);
    all.insert(all.end(), due.begin(), due.end());
    return due.size();
  };
  EXPECT_EQ(step(0, 0.50f), 0u);
  EXPECT_EQ(step(1, 0.80f), 1u) << "quality passed 0.75 on the second sighting: publish now";
  EXPECT_EQ(step(2, 0.85f), 0u) << "0.05 better is not clearly better";
  EXPECT_EQ(step(3, 0.94f), 0u) << "0.14 better is still under the 0.15 gain";
  EXPECT_EQ(step(4, 0.95f), 1u) << "0.15 better: send an update";
  EXPECT_EQ(step(5, 0.97f), 0u) << "gain counts from the last published crop";
  EXPECT_TRUE(tracker.Flush().empty()) << "a published track sends nothing more at its end";
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].track, all[1].track);
  EXPECT_EQ(all[0].seq, 0);
  EXPECT_EQ(all[1].seq, 1);
  EXPECT_FLOAT_EQ(all[0].best.face.quality.score, 0.80f);
  EXPECT_FLOAT_EQ(all[1].best.face.quality.score, 0.95f);
}

TEST(FaceTracker, LowQualityTrackIsPublishedAtItsEnd) {
  FaceTracker tracker(Options());
  EXPECT_TRUE(tracker.Update({Face(0, 0, 0.2f)}, 0).empty());
  EXPECT_TRUE(tracker.Update({Face(0, 0, 0.3f)}, 100).empty());
  const auto ended = tracker.Expire(3000);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].seq, 0);
  EXPECT_FLOAT_EQ(ended[0].best.face.quality.score, 0.3f);
}

TEST(FaceTracker, DifferentAppearanceInTheSameSpotStartsANewTrack) {
  FaceTracker tracker(Options());
  const cv::Mat red = Colour({40, 40, 200}), blue = Colour({200, 60, 30});
  ASSERT_LT(AppearanceSimilarity(red, blue), 0.5f);
  ASSERT_GT(AppearanceSimilarity(red, Colour({40, 40, 200})), 0.8f);
  tracker.Update({Face(0, 0, 0.3f, 0.9f, red)}, 0);
  tracker.Update({Face(0, 0, 0.3f, 0.9f, red)}, 100);
  tracker.Update({Face(0, 0, 0.3f, 0.9f, blue)}, 200);
  EXPECT_EQ(tracker.open_tracks(), 2u);
}

TEST(FaceTracker, TwoCrossingFacesKeepSeparateTracks) {
  TrackerOptions options = Options();
  options.update_gain = 0.1f;
  FaceTracker tracker(options);
  const cv::Mat red = Colour({40, 40, 200}), blue = Colour({200, 60, 30});
  std::map<std::string, float> who;  // track id -> tag of the person it started with
  // Person A (tag 0.9, red) walks right, B (tag 0.8, blue) walks left; at
  // step 5 their boxes coincide. The last step's quality triggers an update
  // per track whose best crop must still be the person the track began with.
  for (int i = 0; i <= 10; ++i) {
    const float q = i == 10 ? 0.95f : 0.8f;
    std::vector<TrackedFace> faces;
    faces.push_back(Face(40.f * i, 0, q, 0.9f, red));
    faces.push_back(Face(400 - 40.f * i, 0, q, 0.8f, blue));
    for (const auto& p : tracker.Update(std::move(faces), i * 100)) {
      if (p.seq == 0) {
        who[p.track] = p.best.face.detector_score;
      } else {
        ASSERT_TRUE(who.count(p.track));
        EXPECT_FLOAT_EQ(p.best.face.detector_score, who[p.track])
            << "track swapped people at the crossing";
        EXPECT_FLOAT_EQ(p.best.face.box.x, who[p.track] == 0.9f ? 400.f : 0.f);
      }
    }
  }
  EXPECT_EQ(who.size(), 2u);
  EXPECT_EQ(tracker.open_tracks(), 2u);
  EXPECT_EQ(tracker.confirmed_tracks(), 2);
}

TEST(FaceTracker, TouchKeepsAStillSceneTracked) {
  FaceTracker tracker(Options());
  tracker.Update({Face(0, 0, 0.3f)}, 0);
  tracker.Update({Face(0, 0, 0.3f)}, 100);
  EXPECT_TRUE(
      tracker.Touch(1400).empty());  // the motion gate saw no change: the face is still there
  EXPECT_TRUE(tracker.Expire(2800).empty());
  EXPECT_EQ(tracker.Expire(3000).size(), 1u);
}

TEST(FaceTracker, TouchConfirmsAFaceThatHoldsStill) {
  FaceTracker tracker(Options());
  EXPECT_TRUE(tracker.Update({Face(0, 0, 0.8f)}, 0).empty());
  const auto due = tracker.Touch(100);  // what a second detection would have found
  ASSERT_EQ(due.size(), 1u) << "good enough and seen twice: published early";
  EXPECT_EQ(tracker.confirmed_tracks(), 1);
}

TEST(MotionGate, StaticFramesDoNotPassButMovementDoes) {
  cv::Mat frame(360, 640, CV_8UC3);
  cv::randu(frame, cv::Scalar::all(0), cv::Scalar::all(255));
  cv::GaussianBlur(frame, frame, cv::Size(9, 9), 0);
  MotionGate gate;
  EXPECT_TRUE(gate.Changed(frame)) << "the first frame always passes";
  for (int i = 0; i < 20; ++i) {
    cv::Mat noisy = frame.clone();
    cv::Mat noise(frame.size(), CV_8UC3);
    cv::randn(noise, cv::Scalar::all(0), cv::Scalar::all(3));  // sensor noise
    noisy += noise;
    EXPECT_FALSE(gate.Changed(noisy)) << "frame " << i;
  }
  cv::Mat moved = frame.clone();
  cv::rectangle(moved, cv::Rect(300, 100, 60, 80), cv::Scalar(255, 255, 255), cv::FILLED);
  EXPECT_TRUE(gate.Changed(moved));
  EXPECT_FALSE(gate.Changed(moved)) << "the moved frame is the new reference";
}

TEST(MotionGate, SlowChangeAddsUpAgainstTheReference) {
  cv::Mat frame(240, 320, CV_8UC3, cv::Scalar(100, 100, 100));
  MotionGate gate;
  ASSERT_TRUE(gate.Changed(frame));
  bool passed = false;
  for (int step = 1; step <= 10 && !passed; ++step) {
    cv::Mat brighter =
        frame + cv::Scalar::all(5 * step);  // 5 levels per frame, under the threshold
    passed = gate.Changed(brighter);
  }
  EXPECT_TRUE(passed);
}

TEST(ComposeViews, PutsTheViewsSideBySideAtTheBestFacesSize) {
  cv::Mat frame(400, 600, CV_8UC3, cv::Scalar::all(0));
  TrackedFace best, corner, outside;
  best.frame = corner.frame = outside.frame = frame;
  best.face.box = {200, 100, 100, 100};
  corner.face.box = {0, 0, 50, 50};
  outside.face.box = {700, 500, 50, 50};
  const ViewStrip strip = ComposeViews({&best, &corner, &outside}, 0.4f);
  ASSERT_EQ(strip.faces.size(), 2u);  // the view off the frame is left out
  // The best view with its margin (180 px), then the corner view scaled to
  // the same face size (clipped margin: 70 px of frame, doubled).
  EXPECT_EQ(strip.picture.rows, 180);
  EXPECT_EQ(strip.picture.cols, 180 + 140);
  EXPECT_FLOAT_EQ(strip.faces[0].x, 40);
  EXPECT_FLOAT_EQ(strip.faces[0].h, 100);
  EXPECT_FLOAT_EQ(strip.faces[1].x, 180);
  EXPECT_FLOAT_EQ(strip.faces[1].w, 100);
  EXPECT_FLOAT_EQ(strip.faces[1].h, 100);
  // A face larger than kMaxFacePx is scaled down to it.
  cv::Mat huge(3000, 3000, CV_8UC3, cv::Scalar::all(0));
  TrackedFace big;
  big.frame = huge;
  big.face.box = {500, 500, 2000, 2000};
  const ViewStrip scaled = ComposeViews({&big}, 0.4f);
  ASSERT_EQ(scaled.faces.size(), 1u);
  EXPECT_NEAR(scaled.faces[0].h, kMaxFacePx, 1);
  EXPECT_TRUE(ComposeViews({&outside}, 0.4f).picture.empty());
}

TEST(FaceTracker, KeepsTheBestFewViewsApartInTime) {
  TrackerOptions options;
  options.min_hits = 1;
  options.publish_quality = 2;  // publish at the end only
  options.views = 3;
  options.view_gap_ms = 300;
  FaceTracker tracker(options);
  // 0.85 comes 100 ms after 0.9, nearly the same picture: it gives way.
  const float qualities[] = {0.3f, 0.9f, 0.85f, 0.5f, 0.6f, 0.2f};
  const int64_t times[] = {1000, 1400, 1500, 1900, 2300, 2700};
  for (int i = 0; i < 6; ++i) {
    TrackedFace f;
    f.face.box = {100.f + i, 100, 80, 80};
    f.face.quality.score = qualities[i];
    f.captured_ms = times[i];
    EXPECT_TRUE(tracker.Update({f}, f.captured_ms).empty());
  }
  const auto published = tracker.Flush();
  ASSERT_EQ(published.size(), 1u);
  EXPECT_FLOAT_EQ(published[0].best.face.quality.score, 0.9f);
  ASSERT_EQ(published[0].others.size(), 2u);
  EXPECT_FLOAT_EQ(published[0].others[0].face.quality.score, 0.6f);
  EXPECT_FLOAT_EQ(published[0].others[1].face.quality.score, 0.5f);
}

}  // namespace
}  // namespace concierge
