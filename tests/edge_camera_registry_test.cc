// The camera registry the HTTP API reads: unique names, status updates, and
// the preview: nothing is due while nobody watches, a watcher gets JPEG
// frames with boxes drawn at a bounded rate, too many watchers are refused,
// and Close ends every watcher.
#include "pipeline/camera_registry.h"

#include <thread>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>

#include "vision/image_io.h"

namespace concierge {
namespace {

using namespace std::chrono_literals;

TEST(CameraRegistryTest, NamesAreUniqueAndStatusFollowsUpdates) {
  CameraRegistry registry;
  auto door = registry.Add("door", "office", "video file");
  ASSERT_TRUE(door.ok());
  EXPECT_EQ(registry.Add("door", "lab", "stream").status().code(), Status::Code::kAlreadyExists);
  ASSERT_TRUE(registry.Add("back", "office", "device").ok());
  EXPECT_EQ(registry.Find("nope"), nullptr);
  EXPECT_EQ(registry.Find("door"), *door);

  EXPECT_EQ((*door)->status().state, CameraState::kStarting);
  CameraStats stats;
  stats.frames = 12;
  stats.faces = 3;
  stats.sightings = 1;
  stats.fps = 25;
  stats.last_frame_ms = 1'790'000'000'000;
  stats.last_error = "stream stopped delivering frames";
  (*door)->Update(stats, CameraState::kReconnecting);
  const CameraStatus s = (*door)->status();
  EXPECT_EQ(s.state, CameraState::kReconnecting);
  EXPECT_EQ(s.frames, 12);
  EXPECT_EQ(s.faces, 3);
  EXPECT_EQ(s.sightings, 1);
  EXPECT_EQ(s.last_frame_ms, 1'790'000'000'000);
  EXPECT_EQ(s.error, "stream stopped delivering frames");
  EXPECT_STREQ(ToString(s.state), "reconnecting");

  const auto all = registry.List();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "back");  // by name
  EXPECT_EQ(all[1].source_kind, "video file");
}

TEST(CameraRegistryTest, PreviewOnlyWhileWatchedAtABoundedRate) {
  CameraFeed feed("door", "office", "device");
  EXPECT_FALSE(feed.PreviewDue()) << "nobody watches: the edge encodes nothing";

  auto watch = feed.WatchPreview();
  ASSERT_TRUE(watch.ok());
  EXPECT_TRUE(feed.PreviewDue()) << "the first frame is due at once";
  EXPECT_EQ((*watch)->Next(10ms), std::nullopt) << "no frame yet";

  const cv::Mat frame(720, 1280, CV_8UC3, cv::Scalar(40, 40, 40));
  feed.PutPreview(frame, {{100, 100, 200, 240}});
  EXPECT_FALSE(feed.PreviewDue()) << "the next one waits 1/kPreviewFps";
  const auto jpeg = (*watch)->Next(1s);
  ASSERT_TRUE(jpeg.has_value());
  auto decoded = DecodeImage(*jpeg, {});
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->cols, kPreviewMaxWidth) << "scaled down before encoding";
  const cv::Vec3b edge = decoded->at<cv::Vec3b>(75, 120);  // on the scaled box's top edge
  EXPECT_GT(edge[1], 150) << "the face box is drawn in green";
  EXPECT_EQ((*watch)->Next(10ms), std::nullopt) << "each frame is handed out once";

  std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(1000 / kPreviewFps)));
  EXPECT_TRUE(feed.PreviewDue());

  std::vector<std::unique_ptr<CameraFeed::Watch>> more;
  for (int i = 1; i < kMaxPreviewWatchers; ++i) {
    auto w = feed.WatchPreview();
    ASSERT_TRUE(w.ok());
    more.push_back(std::move(w).value());
  }
  EXPECT_EQ(feed.WatchPreview().status().code(), Status::Code::kUnavailable);
  more.clear();
  watch->reset();
  EXPECT_FALSE(feed.PreviewDue()) << "the last watcher left";
}

TEST(CameraRegistryTest, CloseEndsEveryWatcher) {
  CameraRegistry registry;
  CameraFeed* feed = *registry.Add("door", "office", "device");
  auto watch = feed->WatchPreview();
  ASSERT_TRUE(watch.ok());
  std::thread closer([&] {
    std::this_thread::sleep_for(50ms);
    registry.Close();
  });
  EXPECT_EQ((*watch)->Next(60s), std::nullopt);
  closer.join();
  EXPECT_TRUE((*watch)->closed());
}

}  // namespace
}  // namespace concierge
