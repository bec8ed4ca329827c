// Stranger clusters and the audit log over each backend (one suite, SQLite
// and PostgreSQL): clustering, merging and splitting, resolving, paging,
// removal and retention; and what several servers sharing one database rely
// on: one stranger seen by two servers at once is one cluster, and what one
// server records the others see.
#include <atomic>
#include <cmath>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/clock.h"
#include "support/sighting_records.h"
#include "support/store_backend.h"

namespace concierge {
namespace {

constexpr int64_t kT0 = 1'790'000'000'000;
constexpr int64_t kHour = 3'600'000;

using testing::UnitEmbedding;

SightingRecord Stranger(const std::string& id, int64_t captured_ms, Embedding e,
                        float quality = 0.5f) {
  SightingRecord s;
  s.id = id;
  s.camera = "door";
  s.site = "office";
  s.captured_ms = captured_ms;
  s.received_ms = captured_ms;
  s.decision = Decision::kUnknown;
  s.embedding = std::move(e);
  s.quality.score = quality;
  return s;
}

class SharedStateTest : public testing::StoreBackendTest {};
CONCIERGE_ALL_STORE_BACKENDS(SharedStateTest);

// Records `s` (inserted pending) as decided, starting a visit or joining `visit_id`.
VisitRecord Decide(SightingStore& store, SightingRecord s, int64_t visit_id = 0) {
  s.decision = Decision::kPending;
  EXPECT_TRUE(store.Insert(s).ok());
  SightingOutcome o;
  o.id = s.id;
  o.decision = Decision::kUnknown;
  o.embedding = s.embedding;
  o.image_key = "unknown/" + s.id + ".jpg";
  auto d = store.RecordDecision(o, {visit_id ? VisitChoice::Kind::kJoin : VisitChoice::Kind::kStart,
                                    visit_id});
  EXPECT_TRUE(d.ok() && d->visit) << d.status().ToString();
  return d.ok() && d->visit ? *d->visit : VisitRecord{};
}

TEST_P(SharedStateTest, RelabellingNamesTheVisitAfterItsKnownSightings) {
  auto store = OpenSightings();
  ASSERT_TRUE(store);
  const VisitRecord visit = Decide(*store, Stranger("a", kT0, UnitEmbedding(0)));
  ASSERT_GT(visit.id, 0);
  Decide(*store, Stranger("b", kT0 + 1000, UnitEmbedding(0)), visit.id);
  auto person_of_visit = [&]() -> std::optional<std::string> {
    auto v = store->GetVisit(visit.id);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? v->person_id : std::nullopt;
  };
  EXPECT_FALSE(person_of_visit().has_value());

  // A tag relabels the stranger's sightings: the visit is now theirs.
  ASSERT_OK(store->Relabel("a", Decision::kKnown, std::string("ana"), "known/ana/a.jpg"));
  EXPECT_EQ(person_of_visit().value_or(""), "ana");
  ASSERT_OK(store->Relabel("b", Decision::kKnown, std::string("ana"), "known/ana/b.jpg"));
  EXPECT_EQ(person_of_visit().value_or(""), "ana");
  // "Not me" on one face leaves her the other; on both, the visit is a stranger's again.
  ASSERT_OK(store->Relabel("a", Decision::kUnknown, std::nullopt, "unknown/a.jpg"));
  EXPECT_EQ(person_of_visit().value_or(""), "ana");
  ASSERT_OK(store->Relabel("b", Decision::kUnknown, std::nullopt, "unknown/b.jpg"));
  EXPECT_FALSE(person_of_visit().has_value());
  // Another server sees the same.
  auto other = OpenSightings();
  ASSERT_TRUE(other);
  ASSERT_OK(other->Relabel("b", Decision::kKnown, std::string("bo"), "known/bo/b.jpg"));
  EXPECT_EQ(person_of_visit().value_or(""), "bo");
}

TEST_P(SharedStateTest, ClustersGroupOneStrangerAndSeparateAnother) {
  auto clusters = OpenClusters(0.5f, kHour);
  ASSERT_NE(clusters, nullptr);
  auto first = clusters->Assign(Stranger("s1", kT0, UnitEmbedding(0), 0.4f));
  ASSERT_OK(first);
  EXPECT_TRUE(first->created);
  EXPECT_TRUE(first->added);
  auto second = clusters->Assign(Stranger("s2", kT0 + 1000, UnitEmbedding(0, 0.3f), 0.9f));
  ASSERT_OK(second);
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->cluster.id, first->cluster.id);
  EXPECT_EQ(second->cluster.sightings, 2);
  EXPECT_EQ(second->cluster.best_sighting_id, "s2");  // the better picture
  EXPECT_EQ(second->cluster.first_ms, kT0);
  EXPECT_EQ(second->cluster.last_ms, kT0 + 1000);
  auto other = clusters->Assign(Stranger("s3", kT0 + 2000, UnitEmbedding(1)));
  ASSERT_OK(other);
  EXPECT_TRUE(other->created);
  EXPECT_NE(other->cluster.id, first->cluster.id);
  auto late =
      clusters->Assign(Stranger("s4", kT0 + 3 * kHour, UnitEmbedding(0)));  // outside the window
  ASSERT_OK(late);
  EXPECT_TRUE(late->created);
  auto again = clusters->Assign(Stranger("s1", kT0, UnitEmbedding(0)));
  ASSERT_OK(again);
  EXPECT_FALSE(again->added);
  EXPECT_EQ(again->cluster.sightings, 2);

  SightingRecord known = Stranger("k", kT0, UnitEmbedding(0));
  known.decision = Decision::kKnown;
  EXPECT_EQ(clusters->Assign(known).status().code(), Status::Code::kInvalidArgument);

  auto members = clusters->Sightings(first->cluster.id);
  ASSERT_OK(members);
  ASSERT_EQ(members->size(), 2u);
  EXPECT_EQ((*members)[0].sighting_id, "s1");
  EXPECT_EQ((*members)[1].sighting_id, "s2");
  EXPECT_EQ(*clusters->CountSightings(first->cluster.id, kT0 + 500, kT0 + 5000), 1);
  EXPECT_EQ(*clusters->ClusterOf("s3"), std::optional<int64_t>(other->cluster.id));
  EXPECT_EQ(*clusters->ClusterOf("nope"), std::nullopt);
  EXPECT_EQ(clusters->Get(999).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(clusters->Sightings(999).status().code(), Status::Code::kNotFound);
}

TEST_P(SharedStateTest, ClustersResolveAndPage) {
  auto clusters = OpenClusters(0.5f, kHour);
  ASSERT_NE(clusters, nullptr);
  std::vector<int64_t> ids;
  for (int i = 0; i < 3; ++i) {
    auto a = clusters->Assign(Stranger("s" + std::to_string(i), kT0 + i * 1000, UnitEmbedding(i)));
    ASSERT_OK(a);
    ids.push_back(a->cluster.id);
  }
  auto tagged = clusters->Resolve(ids[0], ClusterState::kTagged, "alice", "slack:U1");
  ASSERT_OK(tagged);
  EXPECT_TRUE(*tagged);
  auto same = clusters->Resolve(ids[0], ClusterState::kTagged, "alice", "slack:U2");
  ASSERT_OK(same);
  EXPECT_FALSE(*same);
  EXPECT_EQ(clusters->Resolve(ids[0], ClusterState::kIgnored, std::nullopt, "x").status().code(),
            Status::Code::kFailedPrecondition);
  EXPECT_EQ(clusters->Resolve(ids[1], ClusterState::kTagged, std::nullopt, "x").status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(clusters->Resolve(999, ClusterState::kIgnored, std::nullopt, "x").status().code(),
            Status::Code::kNotFound);
  ASSERT_OK(clusters->Resolve(ids[1], ClusterState::kIgnored, std::nullopt, "user:bob"));
  auto got = clusters->Get(ids[0]);
  ASSERT_OK(got);
  EXPECT_EQ(got->state, ClusterState::kTagged);
  EXPECT_EQ(got->person_id, std::optional<std::string>("alice"));
  EXPECT_EQ(got->resolved_by, "slack:U1");
  // An ignored cluster still absorbs its stranger: not asked about again.
  auto absorbed = clusters->Assign(Stranger("s1b", kT0 + 1500, UnitEmbedding(1, 0.1f)));
  ASSERT_OK(absorbed);
  EXPECT_EQ(absorbed->cluster.id, ids[1]);

  std::vector<int64_t> listed;
  std::string cursor;
  do {
    auto page = clusters->List(std::nullopt, 1, cursor);
    ASSERT_OK(page);
    for (const auto& c : page->items) listed.push_back(c.id);
    cursor = page->next_cursor;
  } while (!cursor.empty());
  EXPECT_EQ(listed, (std::vector<int64_t>{ids[2], ids[1], ids[0]}));  // latest activity first
  auto open = clusters->List(ClusterState::kOpen, 10);
  ASSERT_OK(open);
  ASSERT_EQ(open->items.size(), 1u);
  EXPECT_EQ(open->items[0].id, ids[2]);
  EXPECT_EQ(clusters->List(std::nullopt, 10, "x.1").status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(clusters->List(std::nullopt, 0).status().code(), Status::Code::kInvalidArgument);
}

// A unit vector in the plane of the first two axes, `degrees` from axis 0.
Embedding AtAngle(double degrees) {
  Embedding e(8, 0.f);
  e[0] = static_cast<float>(std::cos(degrees * M_PI / 180));
  e[1] = static_cast<float>(std::sin(degrees * M_PI / 180));
  return e;
}

TEST_P(SharedStateTest, ClustersMergeAsEvidenceGrows) {
  auto clusters = OpenClusters(0.5f, kHour);
  ASSERT_NE(clusters, nullptr);
  // A at 0 degrees and B at 63 (cosine 0.45): two clusters at first.
  auto a = clusters->Assign(Stranger("a1", kT0, AtAngle(0), 0.4f));
  auto b = clusters->Assign(Stranger("b1", kT0 + 1000, AtAngle(63), 0.8f));
  auto c = clusters->Assign(Stranger("c1", kT0 + 2000, UnitEmbedding(4)));
  ASSERT_OK(a);
  ASSERT_OK(b);
  ASSERT_OK(c);
  ASSERT_NE(a->cluster.id, b->cluster.id);
  EXPECT_TRUE(b->merged.empty());
  // A face at 20 degrees joins A; A's centroid moves to 10 degrees, within
  // 0.5 of B: they were one stranger, and the older cluster keeps them both.
  auto bridge = clusters->Assign(Stranger("a2", kT0 + 3000, AtAngle(20), 0.5f));
  ASSERT_OK(bridge);
  EXPECT_EQ(bridge->cluster.id, a->cluster.id);
  EXPECT_EQ(bridge->merged, (std::vector<int64_t>{b->cluster.id}));
  EXPECT_EQ(bridge->cluster.sightings, 3);
  EXPECT_EQ(bridge->cluster.best_sighting_id, "b1");  // the best picture of either
  EXPECT_EQ(bridge->cluster.first_ms, kT0);
  EXPECT_EQ(bridge->cluster.last_ms, kT0 + 3000);
  EXPECT_EQ(clusters->Get(b->cluster.id).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(*clusters->ClusterOf("b1"), std::optional<int64_t>(a->cluster.id));
  auto unrelated = clusters->Get(c->cluster.id);
  ASSERT_OK(unrelated);
  EXPECT_EQ(unrelated->sightings, 1);
  // An ignored cluster is never absorbed into an open one.
  ASSERT_OK(clusters->Resolve(c->cluster.id, ClusterState::kIgnored, std::nullopt, "x"));
  auto near_both = clusters->Assign(Stranger("a3", kT0 + 4000, AtAngle(10)));
  ASSERT_OK(near_both);
  EXPECT_TRUE(near_both->merged.empty());
  ASSERT_OK(clusters->Get(c->cluster.id));
}

TEST_P(SharedStateTest, ClustersMergeAndSplitByHand) {
  auto clusters = OpenClusters(0.5f, kHour);
  ASSERT_NE(clusters, nullptr);
  std::vector<SightingRecord> faces = {
      Stranger("p1", kT0, UnitEmbedding(0), 0.3f), Stranger("p2", kT0 + 1000, UnitEmbedding(0)),
      Stranger("q1", kT0 + 2000, UnitEmbedding(1), 0.9f),
      Stranger("r1", kT0 + 3000, UnitEmbedding(2))};
  std::vector<int64_t> ids;
  for (const SightingRecord& face : faces) {
    auto placed = clusters->Assign(face);
    ASSERT_OK(placed);
    if (ids.empty() || ids.back() != placed->cluster.id) ids.push_back(placed->cluster.id);
  }
  ASSERT_EQ(ids.size(), 3u);  // {p1, p2}, {q1}, {r1}

  auto merged = clusters->Merge(ids[0], ids[1]);
  ASSERT_OK(merged);
  EXPECT_EQ(merged->id, ids[0]);
  EXPECT_EQ(merged->sightings, 3);
  EXPECT_EQ(merged->best_sighting_id, "q1");
  EXPECT_EQ(merged->last_ms, kT0 + 2000);
  // Weighted by sightings: two faces on axis 0, one on axis 1.
  EXPECT_NEAR(merged->centroid[0], 2 / std::sqrt(5.0), 1e-5);
  EXPECT_NEAR(merged->centroid[1], 1 / std::sqrt(5.0), 1e-5);
  EXPECT_EQ(clusters->Get(ids[1]).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(clusters->Merge(ids[0], ids[1]).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(clusters->Merge(ids[0], ids[0]).status().code(), Status::Code::kInvalidArgument);
  ASSERT_OK(clusters->Resolve(ids[2], ClusterState::kIgnored, std::nullopt, "x"));
  EXPECT_EQ(clusters->Merge(ids[0], ids[2]).status().code(), Status::Code::kFailedPrecondition);

  // Split q1 off again: the records must be exactly the cluster's members.
  const std::vector<SightingRecord> members = {faces[0], faces[1], faces[2]};
  EXPECT_EQ(clusters->Split(ids[0], {faces[0], faces[1]}, {"q1"}).status().code(),
            Status::Code::kFailedPrecondition);
  EXPECT_EQ(clusters->Split(ids[0], members, {"r1"}).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(clusters->Split(ids[0], members, {"p1", "p2", "q1"}).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(clusters->Split(ids[0], members, {}).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(clusters->Split(ids[2], {faces[3]}, {"r1"}).status().code(),
            Status::Code::kFailedPrecondition);
  auto created = clusters->Split(ids[0], members, {"q1"});
  ASSERT_OK(created);
  EXPECT_EQ(created->state, ClusterState::kOpen);
  EXPECT_EQ(created->site, "office");
  EXPECT_EQ(created->sightings, 1);
  EXPECT_EQ(created->best_sighting_id, "q1");
  EXPECT_EQ(created->first_ms, kT0 + 2000);
  EXPECT_NEAR(created->centroid[1], 1, 1e-5);
  auto left = clusters->Get(ids[0]);
  ASSERT_OK(left);
  EXPECT_EQ(left->sightings, 2);
  EXPECT_EQ(left->last_ms, kT0 + 1000);
  EXPECT_NEAR(left->centroid[0], 1, 1e-5);
  EXPECT_EQ(left->best_sighting_id, "p2");  // quality 0.5 beats 0.3
  EXPECT_EQ(*clusters->ClusterOf("q1"), std::optional<int64_t>(created->id));
  // Another server sees the split.
  auto other = OpenClusters(0.5f, kHour);
  ASSERT_NE(other, nullptr);
  auto seen = other->Sightings(created->id);
  ASSERT_OK(seen);
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ((*seen)[0].sighting_id, "q1");
}

TEST_P(SharedStateTest, ClustersForgetSightingsPeopleAndOldClusters) {
  auto clusters = OpenClusters(0.5f, kHour);
  ASSERT_NE(clusters, nullptr);
  auto a = clusters->Assign(Stranger("a1", kT0, UnitEmbedding(0)));
  ASSERT_OK(a);
  ASSERT_OK(clusters->Assign(Stranger("a2", kT0 + 1000, UnitEmbedding(0))));
  auto b = clusters->Assign(Stranger("b1", kT0 + 5000, UnitEmbedding(1)));
  ASSERT_OK(b);
  auto c = clusters->Assign(Stranger("c1", kT0 + 9000, UnitEmbedding(2)));
  ASSERT_OK(c);

  ASSERT_OK(clusters->RemoveSighting("a2"));
  ASSERT_OK(clusters->RemoveSighting("a2"));  // absent: OK
  auto shrunk = clusters->Get(a->cluster.id);
  ASSERT_OK(shrunk);
  EXPECT_EQ(shrunk->sightings, 1);
  EXPECT_EQ(shrunk->last_ms, kT0);
  ASSERT_OK(clusters->RemoveSighting("a1"));  // left empty: the cluster goes
  EXPECT_EQ(clusters->Get(a->cluster.id).status().code(), Status::Code::kNotFound);

  ASSERT_OK(clusters->Resolve(b->cluster.id, ClusterState::kTagged, "bob", "cli"));
  auto forgotten = clusters->DeleteForPerson("bob");
  ASSERT_OK(forgotten);
  EXPECT_EQ(*forgotten, std::vector<int64_t>{b->cluster.id});
  EXPECT_EQ(*clusters->ClusterOf("b1"), std::nullopt);

  auto none = clusters->DeleteSeenBefore(kT0 + 9000);
  ASSERT_OK(none);
  EXPECT_EQ(*none, 0);
  auto purged = clusters->DeleteSeenBefore(kT0 + 9001);
  ASSERT_OK(purged);
  EXPECT_EQ(*purged, 1);
  EXPECT_EQ(*clusters->ClusterOf("c1"), std::nullopt);
}

// Two servers deciding faces of one stranger at the same moment, each over its
// own connection: one cluster holds them all, so the stranger is asked about
// once.
TEST_P(SharedStateTest, TwoServersSeeingOneStrangerAtOnceMakeOneCluster) {
  auto server_a = OpenClusters(0.5f, kHour);
  auto server_b = OpenClusters(0.5f, kHour);
  ASSERT_NE(server_a, nullptr);
  ASSERT_NE(server_b, nullptr);
  constexpr int kEach = 15;
  std::atomic<int> created{0}, failures{0};
  auto run = [&](StrangerClusters* clusters, const std::string& prefix) {
    for (int i = 0; i < kEach; ++i) {
      auto a = clusters->Assign(
          Stranger(prefix + std::to_string(i), kT0 + i * 100, UnitEmbedding(3, 0.01f * (i % 5))));
      if (!a.ok()) {
        ADD_FAILURE() << a.status().ToString();
        ++failures;
        continue;
      }
      created += a->created;
    }
  };
  std::thread a(run, server_a.get(), "a");
  std::thread b(run, server_b.get(), "b");
  a.join();
  b.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(created.load(), 1);
  auto page = server_a->List(std::nullopt, 10);
  ASSERT_OK(page);
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].sightings, 2 * kEach);
}

TEST_P(SharedStateTest, AuditRecordsListsAcrossServersAndAgesOut) {
  auto server_a = OpenAudit();
  auto server_b = OpenAudit();
  ASSERT_NE(server_a, nullptr);
  ASSERT_NE(server_b, nullptr);
  const int64_t before = NowMs();
  for (int i = 0; i < 5; ++i)
    ASSERT_OK((i % 2 ? server_a : server_b)
                  ->Record("user:alice", "tag", "cluster:" + std::to_string(i), {{"n", i}}));
  ASSERT_OK(server_a->Record("cli", "forget", "", nullptr));
  EXPECT_EQ(server_a->Record("", "tag", "x").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(server_a->Record("cli", "tag", "x", nlohmann::json::array()).code(),
            Status::Code::kInvalidArgument);

  std::vector<std::string> targets;
  std::string cursor;
  do {
    auto page = server_b->List(2, cursor);
    ASSERT_OK(page);
    EXPECT_LE(page->items.size(), 2u);
    for (const auto& e : page->items) targets.push_back(e.target);
    cursor = page->next_cursor;
  } while (!cursor.empty());
  EXPECT_EQ(targets, (std::vector<std::string>{"", "cluster:4", "cluster:3", "cluster:2",
                                               "cluster:1", "cluster:0"}));  // newest first
  auto newest = server_b->List(1);
  ASSERT_OK(newest);
  EXPECT_EQ(newest->items[0].action, "forget");
  EXPECT_EQ(newest->items[0].detail, nlohmann::json::object());
  EXPECT_GE(newest->items[0].at_ms, before);
  auto oldest = server_b->List(500, std::to_string(newest->items[0].id - 4));
  ASSERT_OK(oldest);
  ASSERT_EQ(oldest->items.size(), 1u);
  EXPECT_EQ(oldest->items[0].detail, (nlohmann::json{{"n", 0}}));
  EXPECT_EQ(server_b->List(1, "zz").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(server_b->List(501).status().code(), Status::Code::kInvalidArgument);

  auto kept = server_a->DeleteBefore(before - 1);
  ASSERT_OK(kept);
  EXPECT_EQ(*kept, 0);
  auto purged = server_a->DeleteBefore(NowMs() + 1);
  ASSERT_OK(purged);
  EXPECT_EQ(*purged, 6);
  EXPECT_TRUE(server_b->List(10)->items.empty());
}

}  // namespace
}  // namespace concierge
