// The pipeline's small parts around the record: picture keys by capture date,
// which face a crop stands for, and the in-process event stream. The
// SightingStore itself is store_sightings_test.cc (both backends).
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "pipeline/events.h"
#include "pipeline/ingest.h"
#include "pipeline/recognise.h"
#include "pipeline/visits.h"
#include "store/database.h"
#include "store/sqlite_sighting_store.h"
#include "support/test_env.h"

namespace concierge {
namespace {

constexpr int64_t kT0 = 1'790'000'000'000;  // 2026-09-21

TEST(SightingKeysTest, PicturesAreFiledByUtcCaptureDate) {
  EXPECT_EQ(SightingImageKey("incoming", "abc12345", kT0), "incoming/2026/09/21/abc12345.jpg");
  EXPECT_EQ(SightingImageKey("incoming", "abc12345", 0), "incoming/1970/01/01/abc12345.jpg");
  SightingRecord s;
  s.id = "abc12345";
  s.captured_ms = 1'795'000'000'000;  // 2026-11-18T09:46:40Z
  EXPECT_EQ(DecidedImageKey(s, Decision::kKnown, "alice"), "known/alice/2026/11/18/abc12345.jpg");
  EXPECT_EQ(DecidedImageKey(s, Decision::kUnknown, std::nullopt),
            "unknown/2026/11/18/abc12345.jpg");
  EXPECT_EQ(DecidedImageKey(s, Decision::kRejected, std::nullopt),
            "rejected/2026/11/18/abc12345.jpg");
}

TEST(PickCropFaceTest, TakesTheLargestThenTheMostCentralFace) {
  const std::vector<Detection> faces = {
      {{0, 0, 50, 50}, 0.99f},     // small, corner
      {{100, 10, 95, 95}, 0.9f},   // large, off-centre
      {{60, 60, 100, 100}, 0.8f},  // large, central
  };
  EXPECT_EQ(PickCropFace(faces, 220, 220), 2u);
  EXPECT_EQ(PickCropFace({faces[0], faces[1]}, 220, 220), 1u);
  EXPECT_EQ(PickCropFace({faces[0]}, 220, 220), 0u);
}

TEST(EventStreamTest, DeliversInOrderToEverySubscriberUntilStopped) {
  EventStream events(16);
  std::mutex mu;
  std::vector<std::string> seen_a, seen_b;
  const int a = events.Subscribe([&](const Event& e) {
    std::lock_guard lock(mu);
    seen_a.push_back(EventName(e));
  });
  events.Subscribe([&](const Event& e) {
    std::lock_guard lock(mu);
    if (const auto* s = std::get_if<SightingEvent>(&e)) seen_b.push_back(s->sighting.id);
  });
  SightingRecord s;
  s.id = "s-1";
  events.Publish(SightingEvent{SightingEvent::Kind::kRecorded, s});
  events.Publish(SightingEvent{SightingEvent::Kind::kDecided, s});
  events.Publish(VisitEvent{VisitEvent::Kind::kStarted, {}, "s-1"});
  events.Publish(VisitEvent{VisitEvent::Kind::kUpdated, {}, "s-1"});
  events.Stop();  // drains first
  EXPECT_EQ(seen_a, (std::vector<std::string>{"sighting.recorded", "sighting.decided",
                                              "visit.started", "visit.updated"}));
  EXPECT_EQ(seen_b, (std::vector<std::string>{"s-1", "s-1"}));
  events.Unsubscribe(a);
  events.Publish(SightingEvent{SightingEvent::Kind::kRecorded, s});
  EXPECT_EQ(events.published(), 4u);
  EXPECT_EQ(events.dropped(), 1u);
}

TEST(EventStreamTest, AFullQueueDropsInsteadOfBlockingThePipeline) {
  EventStream events(2);
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> delivered{0};
  events.Subscribe([&](const Event&) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return release; });
    ++delivered;
  });
  for (int i = 0; i < 10; ++i) events.Publish(VisitEvent{});  // returns at once
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  events.Stop();
  EXPECT_GE(events.dropped(), 7u);  // one in the listener, two queued
  EXPECT_EQ(delivered.load(), static_cast<int>(events.published()));
  EXPECT_EQ(events.published() + events.dropped(), 10u);
}

TEST(EventStreamTest, UnsubscribedListenersAreNeverCalledAgain) {
  EventStream events;
  std::atomic<int> calls{0};
  const int id = events.Subscribe([&](const Event&) { ++calls; });
  events.Unsubscribe(id);
  events.Publish(VisitEvent{});
  events.Stop();
  EXPECT_EQ(calls.load(), 0);
}

}  // namespace
}  // namespace concierge
