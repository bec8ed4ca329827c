// The SightingStore contract over both backends (SQLite and PostgreSQL), one
// suite: idempotent insert, exact round trips, filters and keyset paging,
// pending work, all-or-nothing decisions, visits across cameras and by
// embedding, recent strangers, and concurrent deciders over separate
// connections.
#include <atomic>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "pipeline/ingest.h"
#include "pipeline/visits.h"
#include "support/sighting_records.h"
#include "support/store_backend.h"
#include "support/test_env.h"

namespace concierge {
namespace {

constexpr int64_t kT0 = 1'790'000'000'000;  // 2026-09-21
constexpr int64_t kMinute = 60'000;

using testing::KnownOutcome;
using testing::PendingSighting;
using testing::UnitEmbedding;
using testing::UnknownOutcome;

class SightingStoreSuite : public testing::StoreBackendTest {
 protected:
  void SetUp() override {
    StoreBackendTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    store_ = OpenSightings();
    ASSERT_NE(store_, nullptr);
  }

  SightingRecord Add(const std::string& id, int64_t captured_ms,
                     const std::string& camera = "door", const std::string& site = "office") {
    SightingRecord s = PendingSighting(id, captured_ms, camera, site);
    auto inserted = store_->Insert(s);
    EXPECT_TRUE(inserted.ok() && *inserted) << id << ": " << inserted.status().ToString();
    return s;
  }

  std::unique_ptr<SightingStore> store_;
};

TEST_P(SightingStoreSuite, InsertIsIdempotentOnTheId) {
  SightingRecord s = PendingSighting("sighting-1", kT0);
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
  EXPECT_TRUE(stored->embedding.empty());
  EXPECT_EQ(store_->Get("nope").status().code(), Status::Code::kNotFound);
}

TEST_P(SightingStoreSuite, InsertRefusesRecordsThatAreNotNewAndPending) {
  SightingRecord s = PendingSighting("", kT0);
  EXPECT_EQ(store_->Insert(s).status().code(), Status::Code::kInvalidArgument);
  s = PendingSighting("decided-1", kT0);
  s.decision = Decision::kKnown;
  EXPECT_EQ(store_->Insert(s).status().code(), Status::Code::kInvalidArgument);
}

TEST_P(SightingStoreSuite, EveryFieldRoundTripsExactly) {
  SightingRecord s = PendingSighting("exact-1", kT0);
  s.box = {0.1f, 1e-7f, 1234.5678f, 3.4028235e38f};
  s.detector_score = 0.123456789f;
  s.quality = {41.5f, 15.25f, -44.9f, 34.1f, 224.99f, 0.333333343f};
  s.live_score = -1;
  s.seq = 2'000'000'000;
  s.captured_ms = std::numeric_limits<int64_t>::max() - 1;
  s.camera = "caméra 'front' \"door\"; DROP TABLE sightings; --";
  s.capture_clock = CaptureClock::kFileStart;
  ASSERT_OK(store_->Insert(s));
  auto got = store_->Get("exact-1");
  ASSERT_OK(got);
  EXPECT_EQ(got->box.x, s.box.x);
  EXPECT_EQ(got->box.y, s.box.y);
  EXPECT_EQ(got->box.w, s.box.w);
  EXPECT_EQ(got->box.h, s.box.h);
  EXPECT_EQ(got->detector_score, s.detector_score);
  EXPECT_EQ(got->quality.size_px, s.quality.size_px);
  EXPECT_EQ(got->quality.sharpness, s.quality.sharpness);
  EXPECT_EQ(got->quality.yaw_deg, s.quality.yaw_deg);
  EXPECT_EQ(got->quality.pitch_deg, s.quality.pitch_deg);
  EXPECT_EQ(got->quality.brightness, s.quality.brightness);
  EXPECT_EQ(got->quality.score, s.quality.score);
  EXPECT_EQ(got->live_score, -1);
  EXPECT_EQ(got->seq, s.seq);
  EXPECT_EQ(got->captured_ms, s.captured_ms);
  EXPECT_EQ(got->camera, s.camera);
  EXPECT_EQ(got->capture_clock, CaptureClock::kFileStart);

  Embedding e(512);
  for (size_t i = 0; i < e.size(); ++i) e[i] = std::sin(static_cast<float>(i)) / 3.f;
  SightingOutcome o = UnknownOutcome("exact-1", e);
  o.similarity = 0.987654321f;
  o.live_score = 0.5f;
  auto decided = store_->RecordDecision(o, {});
  ASSERT_OK(decided);
  EXPECT_EQ(decided->sighting.embedding, e);
  EXPECT_EQ(decided->sighting.similarity, o.similarity);
  EXPECT_EQ(decided->sighting.live_score, 0.5f);
  EXPECT_FALSE(decided->sighting.visit_id.has_value());
  EXPECT_FALSE(decided->visit.has_value());
  EXPECT_EQ(store_->Get("exact-1")->embedding, e);
  EXPECT_EQ(store_->Get("exact-1")->capture_clock, CaptureClock::kFileStart);
}

TEST_P(SightingStoreSuite, ADecisionWithoutAPictureKeepsEveryModelsVector) {
  Add("vectors-1", kT0);
  Embedding primary(512), second(128);
  for (size_t i = 0; i < primary.size(); ++i) primary[i] = std::sin(static_cast<float>(i)) / 16;
  for (size_t i = 0; i < second.size(); ++i) second[i] = -std::cos(static_cast<float>(i)) / 8;
  SightingOutcome o = UnknownOutcome("vectors-1", primary);
  o.image_key = "";  // embeddings-only mode: no picture is kept
  o.descriptor = {{"primary-model", primary}, {"second-model", second}};
  ASSERT_OK(store_->RecordDecision(o, {}));
  auto got = store_->Get("vectors-1");
  ASSERT_OK(got);
  EXPECT_EQ(got->decision, Decision::kUnknown);
  EXPECT_EQ(got->image_key, "");
  EXPECT_EQ(got->embedding, primary);
  ASSERT_EQ(got->descriptor.size(), 2u);
  for (size_t m = 0; m < 2; ++m) {
    EXPECT_EQ(got->descriptor[m].model, o.descriptor[m].model);
    ASSERT_EQ(got->descriptor[m].vector.size(), o.descriptor[m].vector.size());
    for (size_t i = 0; i < got->descriptor[m].vector.size(); ++i)
      EXPECT_NEAR(got->descriptor[m].vector[i], o.descriptor[m].vector[i], 1e-7) << m << "/" << i;
  }
  Add("plain-1", kT0 + 1);
  ASSERT_OK(store_->RecordDecision(UnknownOutcome("plain-1", primary), {}));
  EXPECT_TRUE(store_->Get("plain-1")->descriptor.empty());
}

TEST_P(SightingStoreSuite, ListFiltersNewestFirst) {
  Add("a-old", kT0, "door");
  Add("b-mid", kT0 + kMinute, "back");
  Add("c-new", kT0 + 2 * kMinute, "door");
  Add("C-new", kT0 + 2 * kMinute, "door");  // a tie, ordered by bytes: 'c' > 'C'
  ASSERT_OK(store_->RecordDecision(KnownOutcome("b-mid", "alice"), {VisitChoice::Kind::kStart, 0}));
  ASSERT_OK(store_->RecordDecision(UnknownOutcome("c-new", UnitEmbedding(1)),
                                   {VisitChoice::Kind::kStart, 0}));

  auto ids = [&](const SightingQuery& q) {
    std::vector<std::string> out;
    auto list = store_->List(q);
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    if (list.ok())
      for (const auto& s : *list) out.push_back(s.id);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids({}), (V{"c-new", "C-new", "b-mid", "a-old"}));
  EXPECT_EQ(ids({.since_ms = kT0 + kMinute}), (V{"c-new", "C-new", "b-mid"}));
  EXPECT_EQ(ids({.limit = 1}), (V{"c-new"}));
  EXPECT_EQ(ids({.limit = 0}).size(), 4u);  // no limit
  EXPECT_EQ(ids({.camera = "door"}), (V{"c-new", "C-new", "a-old"}));
  EXPECT_EQ(ids({.person_id = "alice"}), (V{"b-mid"}));
  EXPECT_EQ(ids({.unknown_only = true}), (V{"c-new"}));
  EXPECT_EQ(ids({.limit = 2, .camera = "door"}), (V{"c-new", "C-new"}));

  auto decided = store_->Get("b-mid");
  ASSERT_OK(decided);
  EXPECT_EQ(decided->decision, Decision::kKnown);
  EXPECT_EQ(decided->person_id, "alice");
  EXPECT_FLOAT_EQ(decided->similarity.value_or(0), 0.7f);
  EXPECT_EQ(decided->image_key, "known/alice/x/b-mid.jpg");
  EXPECT_EQ(decided->embedding, UnitEmbedding(0));
  EXPECT_GT(decided->decided_ms, 0);
}

TEST_P(SightingStoreSuite, CursorWalksEveryPageOnceWithTiesAndBounds) {
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

  auto decided =
      store_->RecordDecision(KnownOutcome("s2", "alice"), {VisitChoice::Kind::kStart, 0});
  ASSERT_OK(decided);
  auto of_visit = store_->List({.visit_id = decided->visit->id});
  ASSERT_OK(of_visit);
  ASSERT_EQ(of_visit->size(), 1u);
  EXPECT_EQ(of_visit->front().id, "s2");
}

TEST_P(SightingStoreSuite, VisitQueryFiltersAndPagesByCursor) {
  Add("k1", kT0);
  Add("k2", kT0 + kMinute, "lobby");
  Add("u1", kT0 + 2 * kMinute);
  Add("k3", kT0 + 2 * kMinute);
  ASSERT_OK(store_->RecordDecision(KnownOutcome("k1", "alice"), {VisitChoice::Kind::kStart, 0}));
  ASSERT_OK(store_->RecordDecision(KnownOutcome("k2", "bob"), {VisitChoice::Kind::kStart, 0}));
  ASSERT_OK(store_->RecordDecision(UnknownOutcome("u1", UnitEmbedding(1)),
                                   {VisitChoice::Kind::kStart, 0}));
  ASSERT_OK(store_->RecordDecision(KnownOutcome("k3", "alice"), {VisitChoice::Kind::kStart, 0}));

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
  // A camera filter keeps the visits with a sighting there, with the others.
  auto lobby = store_->ListVisits(VisitQuery{.camera = "lobby"});
  ASSERT_OK(lobby);
  ASSERT_EQ(lobby->size(), 1u);
  EXPECT_EQ(lobby->front().person_id, "bob");
  auto alice_at_door = store_->ListVisits(VisitQuery{.person_id = "alice", .camera = "door"});
  ASSERT_OK(alice_at_door);
  EXPECT_EQ(alice_at_door->size(), 2u);
  auto nowhere = store_->ListVisits(VisitQuery{.camera = "garage"});
  ASSERT_OK(nowhere);
  EXPECT_TRUE(nowhere->empty());
}

TEST_P(SightingStoreSuite, ListPendingIsTheWorkLeftOldestFirst) {
  Add("p-2", kT0 + 2);
  Add("p-1", kT0 + 1);
  Add("p-3", kT0 + 3);
  ASSERT_OK(store_->RecordDecision(UnknownOutcome("p-3", UnitEmbedding(1)),
                                   {VisitChoice::Kind::kNone, 0}));
  auto pending = store_->ListPending();
  ASSERT_OK(pending);
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].id, "p-1");
  EXPECT_EQ((*pending)[1].id, "p-2");
}

TEST_P(SightingStoreSuite, RecordDecisionAppliesOnceAndAllOrNothing) {
  Add("once-1", kT0);
  auto first =
      store_->RecordDecision(KnownOutcome("once-1", "alice"), {VisitChoice::Kind::kStart, 0});
  ASSERT_OK(first);
  EXPECT_TRUE(first->applied);
  EXPECT_TRUE(first->visit_started);
  ASSERT_TRUE(first->visit.has_value());
  EXPECT_EQ(first->visit->sightings, 1);
  EXPECT_EQ(first->visit->person_id, "alice");
  EXPECT_EQ(first->visit->started_ms, kT0);

  // A second decision (a redelivery, another server) changes nothing.
  auto second = store_->RecordDecision(UnknownOutcome("once-1", UnitEmbedding(2)),
                                       {VisitChoice::Kind::kStart, 0});
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
  EXPECT_EQ(
      store_->RecordDecision(KnownOutcome("rollback-1", "bob"), {VisitChoice::Kind::kJoin, 999})
          .status()
          .code(),
      Status::Code::kNotFound);
  auto still = store_->Get("rollback-1");
  ASSERT_OK(still);
  EXPECT_EQ(still->decision, Decision::kPending);
  EXPECT_EQ(store_->ListVisits(0, 0)->size(), 1u);

  EXPECT_EQ(store_->RecordDecision(KnownOutcome("missing", "bob"), {}).status().code(),
            Status::Code::kNotFound);
  SightingOutcome bad = KnownOutcome("rollback-1", "bob");
  bad.person_id.reset();
  EXPECT_EQ(store_->RecordDecision(bad, {}).status().code(), Status::Code::kInvalidArgument);
  bad = KnownOutcome("rollback-1", "bob");
  bad.decision = Decision::kPending;
  EXPECT_EQ(store_->RecordDecision(bad, {}).status().code(), Status::Code::kInvalidArgument);
}

TEST_P(SightingStoreSuite, OnePersonAcrossCamerasOfASiteIsOneVisit) {
  VisitTracker visits(store_.get(), 5 * kMinute, 0.5f);
  auto record = [&](const SightingRecord& s, const std::string& person) {
    auto r = visits.Record(s, KnownOutcome(s.id, person));
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
  EXPECT_EQ(store_->ListVisits(0, 2)->size(), 2u);
  EXPECT_EQ(store_->ListVisits(kT0 + 5 * kMinute, 0)->size(), 1u);
  auto alice = store_->PersonVisits("office", "alice", kT0, kT0 + 10 * kMinute);
  ASSERT_OK(alice);
  ASSERT_EQ(alice->size(), 2u);
  EXPECT_EQ((*alice)[0].id, later);
  EXPECT_EQ((*alice)[1].id, v1);
  EXPECT_EQ(store_->GetVisit(12345).status().code(), Status::Code::kNotFound);
}

TEST_P(SightingStoreSuite, OneStrangerIsOneVisitByEmbedding) {
  VisitTracker visits(store_.get(), 5 * kMinute, 0.5f);
  auto record = [&](const SightingRecord& s, Embedding e) {
    auto r = visits.Record(s, UnknownOutcome(s.id, std::move(e)));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->sighting.visit_id.value_or(0) : 0;
  };
  const int64_t stranger_a = record(Add("a-1", kT0, "front"), UnitEmbedding(0));
  const int64_t stranger_b = record(Add("b-1", kT0 + 1000, "front"), UnitEmbedding(1));
  EXPECT_NE(stranger_a, stranger_b);
  EXPECT_EQ(record(Add("a-2", kT0 + 2000, "back"), UnitEmbedding(0, 0.3f)), stranger_a);
  EXPECT_EQ(record(Add("b-2", kT0 + 3000, "back"), UnitEmbedding(1, 0.2f)), stranger_b);
  // Same face after the window: a new visit.
  EXPECT_NE(record(Add("a-3", kT0 + 20 * kMinute, "back"), UnitEmbedding(0)), stranger_a);

  // No face, no visit.
  Add("r-1", kT0);
  auto rejected =
      visits.Record(*store_->Get("r-1"), {"r-1", Decision::kRejected, std::nullopt, std::nullopt,
                                          -1, "rejected/x/r-1.jpg", {}});
  ASSERT_OK(rejected);
  EXPECT_FALSE(rejected->sighting.visit_id.has_value());
  EXPECT_FALSE(rejected->visit.has_value());
}

TEST_P(SightingStoreSuite, RecentUnknownIsTheSitesRecentStrangersLatestFirst) {
  for (int i = 0; i < 5; ++i) {
    Add("u-" + std::to_string(i), kT0 + i * 1000);
    ASSERT_OK(store_->RecordDecision(UnknownOutcome("u-" + std::to_string(i), UnitEmbedding(i)),
                                     {VisitChoice::Kind::kStart, 0}));
  }
  Add("no-visit", kT0 + 500);
  ASSERT_OK(store_->RecordDecision(UnknownOutcome("no-visit", UnitEmbedding(0)), {}));
  Add("no-face", kT0 + 600);
  ASSERT_OK(store_->RecordDecision(UnknownOutcome("no-face", {}), {VisitChoice::Kind::kStart, 0}));
  Add("elsewhere", kT0 + 700, "door", "hq");
  ASSERT_OK(store_->RecordDecision(UnknownOutcome("elsewhere", UnitEmbedding(0)),
                                   {VisitChoice::Kind::kStart, 0}));
  Add("still-pending", kT0 + 800);

  auto ids = [&](int64_t from, int64_t to, int limit) {
    std::vector<std::string> out;
    auto got = store_->RecentUnknown("office", from, to, limit);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    if (got.ok())
      for (const auto& s : *got) out.push_back(s.id);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids(kT0, kT0 + 4000, 10), (V{"u-4", "u-3", "u-2", "u-1", "u-0"}));
  EXPECT_EQ(ids(kT0 + 1000, kT0 + 3000, 10), (V{"u-3", "u-2", "u-1"}));  // inclusive bounds
  EXPECT_EQ(ids(kT0, kT0 + 4000, 2), (V{"u-4", "u-3"}));
  EXPECT_TRUE(ids(kT0, kT0 + 4000, 0).empty());
  EXPECT_EQ(ids(kT0, kT0 + 4000, -1).size(), 5u);
}

// Two servers, each with its own connection (or Database on the file), racing to decide one
// sighting.
TEST_P(SightingStoreSuite, ConcurrentDecidersApplyExactlyOnce) {
  std::unique_ptr<SightingStore> other = OpenSightings();
  ASSERT_NE(other, nullptr);
  const std::string kPeople[] = {"p0", "p1", "p2", "p3"};  // each thread claims another
  for (int round = 0; round < 5; ++round) {
    const std::string id = "race-" + std::to_string(round);
    Add(id, kT0 + round);
    std::atomic<int> applied{0}, failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        SightingStore* store = t % 2 ? other.get() : store_.get();
        auto r = store->RecordDecision(KnownOutcome(id, kPeople[t]),
                                       {VisitChoice::Kind::kStart, 0});
        if (!r.ok()) failed.fetch_add(1);
        else if (r->applied) applied.fetch_add(1);
      });
    for (auto& t : threads) t.join();
    EXPECT_EQ(failed.load(), 0);
    EXPECT_EQ(applied.load(), 1);
  }
  auto visits = store_->ListVisits(0, 0);
  ASSERT_OK(visits);
  EXPECT_EQ(visits->size(), 5u);  // one visit per sighting, never two
  for (const auto& v : *visits) EXPECT_EQ(v.sightings, 1);
}

CONCIERGE_ALL_STORE_BACKENDS(SightingStoreSuite);

}  // namespace
}  // namespace concierge
