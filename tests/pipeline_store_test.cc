// The record the pipeline keeps: the SQLite SightingStore (idempotent insert,
// filters, all-or-nothing decisions), visits (one person across cameras of a
// site, one stranger by embedding) and the in-process event stream.
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
constexpr int64_t kMinute = 60'000;

// A unit vector along axis `axis` of 8 dims, tilted towards axis 7 by `tilt`.
Embedding Unit(int axis, float tilt = 0) {
  Embedding e(8, 0.f);
  e[static_cast<size_t>(axis)] = 1;
  e[7] += tilt;
  const float norm = std::sqrt(1 + tilt * tilt);
  for (auto& v : e) v /= norm;
  return e;
}

class SightingStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::OpenSqlite(dir_.Sub("concierge.db"), 5000);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
    store_ = NewSqliteSightingStore(db_.get());
  }

  SightingRecord Pending(const std::string& id, int64_t captured_ms,
                         const std::string& camera = "door", const std::string& site = "office") {
    SightingRecord s;
    s.id = id;
    s.camera = camera;
    s.site = site;
    s.track = "t-" + id;
    s.seq = 1;
    s.captured_ms = captured_ms;
    s.received_ms = captured_ms + 5;
    s.box = {1, 2, 30, 40};
    s.detector_score = 0.9f;
    s.quality.size_px = 30;
    s.quality.score = 0.7f;
    s.live_score = 0.8f;
    s.image_key = SightingImageKey("incoming", id, captured_ms);
    return s;
  }

  SightingRecord Add(const std::string& id, int64_t captured_ms, const std::string& camera = "door",
                     const std::string& site = "office") {
    SightingRecord s = Pending(id, captured_ms, camera, site);
    auto inserted = store_->Insert(s);
    EXPECT_TRUE(inserted.ok() && *inserted) << id;
    return s;
  }

  static SightingOutcome Known(const std::string& id, const std::string& person) {
    return {id,     Decision::kKnown, person, 0.7f, 0.9f, "known/" + person + "/x/" + id + ".jpg",
            Unit(0)};
  }
  static SightingOutcome Unknown(const std::string& id, Embedding e) {
    return {id,   Decision::kUnknown,         std::nullopt, 0.1f,
            0.9f, "unknown/x/" + id + ".jpg", std::move(e)};
  }

  testing::TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<SightingStore> store_;
};

TEST_F(SightingStoreTest, InsertIsIdempotentOnTheId) {
  SightingRecord s = Pending("sighting-1", kT0);
  auto first = store_->Insert(s);
  ASSERT_OK(first);
  EXPECT_TRUE(*first);
  s.camera = "back";
  auto again = store_->Insert(s);
  ASSERT_OK(again);
  EXPECT_FALSE(*again);
  auto stored = store_->Get("sighting-1");
  ASSERT_OK(stored);
  EXPECT_EQ(stored->camera, "door");  // the first write stands
  EXPECT_EQ(stored->track, "t-sighting-1");
  EXPECT_EQ(stored->seq, 1);
  EXPECT_EQ(stored->received_ms, kT0 + 5);
  EXPECT_FLOAT_EQ(stored->box.h, 40);
  EXPECT_FLOAT_EQ(stored->quality.score, 0.7f);
  EXPECT_FLOAT_EQ(stored->live_score, 0.8f);
  EXPECT_EQ(stored->decision, Decision::kPending);
  EXPECT_FALSE(stored->person_id.has_value());
  EXPECT_FALSE(stored->similarity.has_value());
  EXPECT_FALSE(stored->visit_id.has_value());
  EXPECT_EQ(store_->Get("nope").status().code(), Status::Code::kNotFound);
}

TEST_F(SightingStoreTest, InsertRefusesRecordsThatAreNotNewAndPending) {
  SightingRecord s = Pending("", kT0);
  EXPECT_EQ(store_->Insert(s).status().code(), Status::Code::kInvalidArgument);
  s = Pending("decided-1", kT0);
  s.decision = Decision::kKnown;
  EXPECT_EQ(store_->Insert(s).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(SightingStoreTest, ListFiltersNewestFirst) {
  Add("a-old", kT0, "door");
  Add("b-mid", kT0 + kMinute, "back");
  Add("c-new", kT0 + 2 * kMinute, "door");
  ASSERT_OK(store_->RecordDecision(Known("b-mid", "alice"), {VisitChoice::Kind::kStart, 0}));
  ASSERT_OK(store_->RecordDecision(Unknown("c-new", Unit(1)), {VisitChoice::Kind::kStart, 0}));

  auto ids = [&](const SightingQuery& q) {
    std::vector<std::string> out;
    auto list = store_->List(q);
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    if (list.ok())
      for (const auto& s : *list) out.push_back(s.id);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids({}), (V{"c-new", "b-mid", "a-old"}));
  EXPECT_EQ(ids({.since_ms = kT0 + kMinute}), (V{"c-new", "b-mid"}));
  EXPECT_EQ(ids({.limit = 1}), (V{"c-new"}));
  EXPECT_EQ(ids({.camera = "door"}), (V{"c-new", "a-old"}));
  EXPECT_EQ(ids({.person_id = "alice"}), (V{"b-mid"}));
  EXPECT_EQ(ids({.unknown_only = true}), (V{"c-new"}));

  auto decided = store_->Get("b-mid");
  ASSERT_OK(decided);
  EXPECT_EQ(decided->decision, Decision::kKnown);
  EXPECT_EQ(decided->person_id, "alice");
  EXPECT_FLOAT_EQ(decided->similarity.value_or(0), 0.7f);
  EXPECT_EQ(decided->image_key, "known/alice/x/b-mid.jpg");
  EXPECT_EQ(decided->embedding, Unit(0));
  EXPECT_GT(decided->decided_ms, 0);
}

TEST_F(SightingStoreTest, CursorWalksEveryPageOnceWithTiesAndBounds) {
  // Two ties on captured_ms, ordered by id bytes ('C' < 'c').
  for (const auto& [id, at] : std::vector<std::pair<std::string, int64_t>>{
           {"s1", kT0}, {"s2", kT0 + 1}, {"C3", kT0 + 2}, {"c3", kT0 + 2}, {"s4", kT0 + 3}})
    Add(id, at);
  std::vector<std::string> walked;
  SightingQuery q{.limit = 2};
  for (int page = 0; page < 10; ++page) {
    auto list = store_->List(q);
    ASSERT_OK(list);
    for (const auto& s : *list) walked.push_back(s.id);
    if (list->size() < 2) break;
    q.after = SightingCursor{list->back().captured_ms, list->back().id};
  }
  EXPECT_EQ(walked, (std::vector<std::string>{"s4", "c3", "C3", "s2", "s1"}));

  auto bounded = store_->List({.since_ms = kT0 + 1, .until_ms = kT0 + 3});
  ASSERT_OK(bounded);
  ASSERT_EQ(bounded->size(), 3u);
  EXPECT_EQ(bounded->front().id, "c3");
  EXPECT_EQ(bounded->back().id, "s2");

  auto decided = store_->RecordDecision(Known("s2", "alice"), {VisitChoice::Kind::kStart, 0});
  ASSERT_OK(decided);
  auto of_visit = store_->List({.visit_id = decided->visit->id});
  ASSERT_OK(of_visit);
  ASSERT_EQ(of_visit->size(), 1u);
  EXPECT_EQ(of_visit->front().id, "s2");
}

TEST_F(SightingStoreTest, VisitQueryFiltersAndPagesByCursor) {
  Add("k1", kT0);
  Add("k2", kT0 + kMinute);
  Add("u1", kT0 + 2 * kMinute);
  Add("k3", kT0 + 2 * kMinute);
  ASSERT_OK(store_->RecordDecision(Known("k1", "alice"), {VisitChoice::Kind::kStart, 0}));
  ASSERT_OK(store_->RecordDecision(Known("k2", "bob"), {VisitChoice::Kind::kStart, 0}));
  ASSERT_OK(store_->RecordDecision(Unknown("u1", Unit(1)), {VisitChoice::Kind::kStart, 0}));
  ASSERT_OK(store_->RecordDecision(Known("k3", "alice"), {VisitChoice::Kind::kStart, 0}));

  std::vector<std::optional<std::string>> walked;
  VisitQuery q{.limit = 3};
  for (int page = 0; page < 10; ++page) {
    auto list = store_->ListVisits(q);
    ASSERT_OK(list);
    for (const auto& v : *list) walked.push_back(v.person_id);
    if (list->size() < 3) break;
    q.after = VisitCursor{list->back().last_ms, list->back().id};
  }
  // The tie at kT0 + 2 min goes to the newer visit (higher id) first.
  EXPECT_EQ(walked, (std::vector<std::optional<std::string>>{"alice", std::nullopt, "bob",
                                                             "alice"}));

  auto alice = store_->ListVisits(VisitQuery{.person_id = "alice"});
  ASSERT_OK(alice);
  EXPECT_EQ(alice->size(), 2u);
  auto strangers = store_->ListVisits(VisitQuery{.unknown_only = true});
  ASSERT_OK(strangers);
  ASSERT_EQ(strangers->size(), 1u);
  EXPECT_FALSE(strangers->front().person_id.has_value());
  auto window =
      store_->ListVisits(VisitQuery{.since_ms = kT0 + kMinute, .until_ms = kT0 + kMinute + 1});
  ASSERT_OK(window);
  ASSERT_EQ(window->size(), 1u);
  EXPECT_EQ(window->front().person_id, "bob");
}

TEST_F(SightingStoreTest, ListPendingIsTheWorkLeftOldestFirst) {
  Add("p-2", kT0 + 2);
  Add("p-1", kT0 + 1);
  Add("p-3", kT0 + 3);
  ASSERT_OK(store_->RecordDecision(Unknown("p-3", Unit(1)), {VisitChoice::Kind::kNone, 0}));
  auto pending = store_->ListPending();
  ASSERT_OK(pending);
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].id, "p-1");
  EXPECT_EQ((*pending)[1].id, "p-2");
}

TEST_F(SightingStoreTest, RecordDecisionAppliesOnceAndAllOrNothing) {
  Add("once-1", kT0);
  auto first = store_->RecordDecision(Known("once-1", "alice"), {VisitChoice::Kind::kStart, 0});
  ASSERT_OK(first);
  EXPECT_TRUE(first->applied);
  EXPECT_TRUE(first->visit_started);
  ASSERT_TRUE(first->visit.has_value());
  EXPECT_EQ(first->visit->sightings, 1);
  EXPECT_EQ(first->visit->person_id, "alice");
  EXPECT_EQ(first->visit->started_ms, kT0);

  // A second decision (a redelivery, another server) changes nothing.
  auto second = store_->RecordDecision(Unknown("once-1", Unit(2)), {VisitChoice::Kind::kStart, 0});
  ASSERT_OK(second);
  EXPECT_FALSE(second->applied);
  EXPECT_EQ(second->sighting.decision, Decision::kKnown);
  ASSERT_TRUE(second->visit.has_value());
  EXPECT_EQ(second->visit->sightings, 1);
  auto visits = store_->ListVisits(0, 0);
  ASSERT_OK(visits);
  EXPECT_EQ(visits->size(), 1u);

  // Joining a visit that does not exist rolls the whole decision back.
  Add("rollback-1", kT0);
  EXPECT_EQ(store_->RecordDecision(Known("rollback-1", "bob"), {VisitChoice::Kind::kJoin, 999})
                .status()
                .code(),
            Status::Code::kNotFound);
  auto still = store_->Get("rollback-1");
  ASSERT_OK(still);
  EXPECT_EQ(still->decision, Decision::kPending);

  EXPECT_EQ(store_->RecordDecision(Known("missing", "bob"), {}).status().code(),
            Status::Code::kNotFound);
  SightingOutcome bad = Known("rollback-1", "bob");
  bad.person_id.reset();
  EXPECT_EQ(store_->RecordDecision(bad, {}).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(SightingStoreTest, OnePersonAcrossCamerasOfASiteIsOneVisit) {
  VisitTracker visits(store_.get(), 5 * kMinute, 0.5f);
  auto record = [&](const SightingRecord& s, const std::string& person) {
    auto r = visits.Record(s, Known(s.id, person));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->sighting.visit_id.value_or(0) : 0;
  };
  const int64_t v1 = record(Add("front-1", kT0, "front"), "alice");
  EXPECT_EQ(record(Add("back-1", kT0 + 3 * kMinute, "back"), "alice"), v1);
  // Out of order (a spooled edge catching up) still joins.
  EXPECT_EQ(record(Add("front-0", kT0 - kMinute, "front"), "alice"), v1);
  // Another person, another site, and a gap longer than the window each start anew.
  const int64_t other_person = record(Add("front-2", kT0 + 3 * kMinute, "front"), "bob");
  const int64_t other_site = record(Add("hq-1", kT0 + 3 * kMinute, "door", "hq"), "alice");
  const int64_t later = record(Add("front-3", kT0 + 9 * kMinute, "front"), "alice");
  EXPECT_NE(other_person, v1);
  EXPECT_NE(other_site, v1);
  EXPECT_NE(later, v1);

  auto visit = store_->GetVisit(v1);
  ASSERT_OK(visit);
  EXPECT_EQ(visit->sightings, 3);
  EXPECT_EQ(visit->started_ms, kT0 - kMinute);
  EXPECT_EQ(visit->last_ms, kT0 + 3 * kMinute);
  EXPECT_EQ(visit->site, "office");
  auto all = store_->ListVisits(0, 0);
  ASSERT_OK(all);
  EXPECT_EQ(all->size(), 4u);
  EXPECT_EQ(all->front().id, later);  // latest activity first
}

TEST_F(SightingStoreTest, OneStrangerIsOneVisitByEmbedding) {
  VisitTracker visits(store_.get(), 5 * kMinute, 0.5f);
  auto record = [&](const SightingRecord& s, Embedding e) {
    auto r = visits.Record(s, Unknown(s.id, std::move(e)));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->sighting.visit_id.value_or(0) : 0;
  };
  const int64_t stranger_a = record(Add("a-1", kT0, "front"), Unit(0));
  const int64_t stranger_b = record(Add("b-1", kT0 + 1000, "front"), Unit(1));
  EXPECT_NE(stranger_a, stranger_b);
  EXPECT_EQ(record(Add("a-2", kT0 + 2000, "back"), Unit(0, 0.3f)), stranger_a);
  EXPECT_EQ(record(Add("b-2", kT0 + 3000, "back"), Unit(1, 0.2f)), stranger_b);
  // Same face after the window: a new visit.
  EXPECT_NE(record(Add("a-3", kT0 + 20 * kMinute, "back"), Unit(0)), stranger_a);

  // No face, no visit.
  Add("r-1", kT0);
  auto rejected = visits.Record(
      *store_->Get("r-1"),
      {"r-1", Decision::kRejected, std::nullopt, std::nullopt, -1, "rejected/x/r-1.jpg", {}});
  ASSERT_OK(rejected);
  EXPECT_FALSE(rejected->sighting.visit_id.has_value());
  EXPECT_FALSE(rejected->visit.has_value());
}

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
