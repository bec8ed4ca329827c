// Retention against the SQLite store, the filesystem object store, the face
// collection and stranger clusters, with the clock injected: crops, events,
// clusters, outbox and audit rows age out per class; training pictures stay;
// a pass interrupted between deleting a picture and clearing its key is
// finished by the next one; the background job runs at once and stops. The
// store methods retention uses behave the same on SQLite and PostgreSQL.
#include "pipeline/retention.h"

#include <chrono>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "pipeline/ingest.h"
#include "store/pg_sighting_store.h"
#include "store/sqlite_sighting_store.h"
#include "support/pg_fixture.h"
#include "support/test_env.h"

namespace concierge {
namespace {

constexpr int64_t kDay = 24 * 3600 * 1000LL;
constexpr int64_t kNow = 1'790'000'000'000 + 200 * kDay;

Embedding Unit(int axis) {
  Embedding e(8, 0.f);
  e[static_cast<size_t>(axis)] = 1;
  return e;
}

class RetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::OpenSqlite(dir_.Sub("concierge.db"), 5000);
    ASSERT_OK(db);
    db_ = std::move(*db);
    store_ = NewSqliteSightingStore(db_.get());
    ObjectStoreConfig objects;
    auto opened = OpenObjectStore(objects, dir_.Sub("objects"));
    ASSERT_OK(opened);
    objects_ = std::move(*opened);
    auto faces = FaceCollection::Open(db_.get(), "default", {{"test@000000000001", 8}});
    ASSERT_OK(faces);
    faces_ = std::move(*faces);
    ASSERT_OK(faces_->AddPerson({"alice", "Alice", "", 0}));
    // A window of a year: every stranger sighting here joins one cluster.
    clusters_ = NewSqliteStrangerClusters(db_.get(), 0.5f, 365 * kDay);
    outbox_ = NewSqliteOutboxStore(db_.get());
    audit_ = NewSqliteAuditLog(db_.get());
    parts_ = {store_.get(), objects_.get(), faces_.get(), clusters_.get(), outbox_.get(),
              audit_.get()};
  }

  // A sighting `age_days` old with its picture stored, decided as `decision`
  // (kKnown: alice) unless pending; returns its image key.
  std::string Add(const std::string& id, double age_days, Decision decision) {
    SightingRecord s;
    s.id = id;
    s.camera = "door";
    s.site = "office";
    s.track = "t-" + id;
    s.captured_ms = kNow - static_cast<int64_t>(age_days * kDay);
    s.received_ms = s.captured_ms;
    s.image_key = SightingImageKey("incoming", id, s.captured_ms);
    EXPECT_TRUE(store_->Insert(s).ok());
    std::string key = s.image_key;
    if (decision != Decision::kPending) {
      SightingOutcome o;
      o.id = id;
      o.decision = decision;
      if (decision == Decision::kKnown) o.person_id = "alice";
      const char* prefix = decision == Decision::kKnown ? "known/alice" : "unknown";
      key = SightingImageKey(prefix, id, s.captured_ms);
      o.image_key = key;
      if (decision == Decision::kUnknown) o.embedding = Unit(0);
      auto decided = store_->RecordDecision(o, {VisitChoice::Kind::kStart, 0});
      EXPECT_TRUE(decided.ok()) << decided.status().ToString();
      if (decision == Decision::kUnknown && decided.ok()) {
        EXPECT_TRUE(clusters_->Assign(decided->sighting).ok());
      }
    }
    EXPECT_TRUE(objects_->Put(key, "jpeg of " + id).ok());
    return key;
  }

  bool Exists(const std::string& key) {
    auto e = objects_->Exists(key);
    EXPECT_TRUE(e.ok());
    return e.ok() && *e;
  }
  std::string KeyOf(const std::string& id) {
    auto s = store_->Get(id);
    EXPECT_TRUE(s.ok()) << id;
    return s.ok() ? s->image_key : "<missing>";
  }
  bool Gone(const std::string& id) {
    return store_->Get(id).status().code() == Status::Code::kNotFound;
  }
  int64_t Count(const std::string& sql) {
    auto n = db_->WithConnection([&](Connection& c) -> Result<int64_t> {
      ASSIGN_OR_RETURN(Statement stmt, c.Prepare(sql));
      ASSIGN_OR_RETURN(const bool row, stmt.Step());
      return row ? stmt.ColumnInt(0) : -1;
    });
    EXPECT_TRUE(n.ok());
    return n.ok() ? *n : -1;
  }
  void Exec(const std::string& sql) {
    const Status st = db_->WithConnection([&](Connection& c) { return c.Exec(sql); });
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  testing::TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<SightingStore> store_;
  std::unique_ptr<ObjectStore> objects_;
  std::unique_ptr<FaceCollection> faces_;
  std::unique_ptr<StrangerClusters> clusters_;
  std::unique_ptr<OutboxStore> outbox_;
  std::unique_ptr<AuditLog> audit_;
  RetentionParts parts_;
  RetentionConfig config_;  // defaults: 7 / 30 / 90 days
};

TEST_F(RetentionTest, EachClassAgesOutOnItsOwnClock) {
  const std::string unknown_old = Add("unknown-old", 8, Decision::kUnknown);
  const std::string unknown_new = Add("unknown-new", 6, Decision::kUnknown);
  const std::string rejected_old = Add("rejected-old", 8, Decision::kRejected);
  const std::string pending_old = Add("pending-old", 8, Decision::kPending);
  const std::string known_old = Add("known-old", 31, Decision::kKnown);
  const std::string known_new = Add("known-new", 29, Decision::kKnown);
  const std::string event_old = Add("event-old", 91, Decision::kUnknown);
  const std::string event_new = Add("event-new", 89, Decision::kKnown);
  const int64_t old_ms = kNow - 91 * kDay, new_ms = kNow - 89 * kDay;
  Exec("INSERT INTO notify_outbox(kind, payload, idempotency_key, state, created_ms, updated_ms) "
       "VALUES ('greet', '{}', 'old', 'sent', " + std::to_string(old_ms) + ", 0), "
       "('greet', '{}', 'new', 'sent', " + std::to_string(new_ms) + ", 0)");
  Exec("INSERT INTO audit_log(at_ms, actor, action) VALUES (" + std::to_string(old_ms) +
       ", 'cli', 'tag'), (" + std::to_string(new_ms) + ", 'cli', 'tag')");
  ASSERT_EQ(Count("SELECT COUNT(*) FROM stranger_clusters"), 1);  // one stranger, seen 3 times
  const int64_t visits = Count("SELECT COUNT(*) FROM visits");

  auto report = ApplyRetention(config_, parts_, kNow);
  ASSERT_OK(report);
  EXPECT_EQ(report->unknown_crops, 3);  // unknown-old, rejected-old, event-old (also a crop)
  EXPECT_EQ(report->known_crops, 2);    // known-old, event-new
  EXPECT_EQ(report->sightings, 1);
  EXPECT_EQ(report->visits, 1);
  EXPECT_EQ(report->outbox, 1);
  EXPECT_EQ(report->audit, 1);
  EXPECT_EQ(report->clusters, 0) << "the cluster was active 6 days ago";
  EXPECT_EQ(report->kept_training_pictures, 0);

  EXPECT_FALSE(Exists(unknown_old));
  EXPECT_EQ(KeyOf("unknown-old"), "") << "no key may point at a deleted picture";
  EXPECT_FALSE(Exists(rejected_old));
  EXPECT_EQ(KeyOf("rejected-old"), "");
  EXPECT_FALSE(Exists(known_old));
  EXPECT_EQ(KeyOf("known-old"), "");
  EXPECT_FALSE(Exists(event_old));
  EXPECT_TRUE(Gone("event-old"));
  EXPECT_EQ(*clusters_->ClusterOf("event-old"), std::nullopt) << "membership follows the sighting";

  EXPECT_TRUE(Exists(unknown_new));
  EXPECT_EQ(KeyOf("unknown-new"), unknown_new);
  EXPECT_TRUE(Exists(known_new));
  EXPECT_EQ(KeyOf("known-new"), known_new);
  EXPECT_TRUE(Exists(pending_old)) << "pending work is not expired before the events age";
  EXPECT_EQ(KeyOf("pending-old"), pending_old);
  EXPECT_FALSE(Gone("event-new"));
  EXPECT_EQ(Count("SELECT COUNT(*) FROM notify_outbox"), 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM audit_log"), 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM visits"), visits - 1);

  auto again = ApplyRetention(config_, parts_, kNow);
  ASSERT_OK(again);
  EXPECT_EQ(again->total(), 0) << "a second pass at the same time finds nothing";

  // Time passes: the stranger's last sighting goes past the events age too.
  auto later = ApplyRetention(config_, parts_, kNow + 100 * kDay);
  ASSERT_OK(later);
  EXPECT_EQ(later->sightings, 7);
  // Removing its last member ends the cluster, or else its age does.
  EXPECT_EQ(Count("SELECT COUNT(*) FROM stranger_clusters"), 0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM sightings"), 0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM visits"), 0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM cluster_sightings"), 0);
  auto left = objects_->List("");
  ASSERT_OK(left);
  EXPECT_TRUE(left->empty()) << left->front();
}

TEST_F(RetentionTest, TrainingFacesKeepTheirPicturesUntilForgotten) {
  const std::string tagged = Add("tagged", 31, Decision::kKnown);
  FaceRecord face;
  face.person_id = "alice";
  face.embeddings = {{"test@000000000001", Unit(1)}};
  face.image_key = tagged;
  face.origin = FaceOrigin::kTagged;
  ASSERT_OK(faces_->AddFace(face));

  auto report = ApplyRetention(config_, parts_, kNow);
  ASSERT_OK(report);
  EXPECT_EQ(report->known_crops, 1);
  EXPECT_EQ(report->kept_training_pictures, 1);
  EXPECT_TRUE(Exists(tagged)) << "the training face still shows it";
  EXPECT_EQ(KeyOf("tagged"), "") << "the expired sighting lets go of the picture";

  auto ended = ApplyRetention(config_, parts_, kNow + 100 * kDay);
  ASSERT_OK(ended);
  EXPECT_TRUE(Gone("tagged"));
  EXPECT_TRUE(Exists(tagged));
  EXPECT_EQ(faces_->size(), 1u);
}

TEST_F(RetentionTest, APassInterruptedAfterDeletingAPictureIsFinishedByTheNext) {
  const std::string key = Add("half-done", 8, Decision::kUnknown);
  // The crash window: the picture is gone, the key not yet cleared.
  ASSERT_OK(objects_->Delete(key));
  auto report = ApplyRetention(config_, parts_, kNow);
  ASSERT_OK(report);
  EXPECT_EQ(report->unknown_crops, 1);
  EXPECT_EQ(KeyOf("half-done"), "");
}

TEST_F(RetentionTest, ZeroDaysKeepsAClassAndBadConfigIsRefused) {
  const std::string key = Add("ancient", 400, Decision::kUnknown);
  RetentionConfig forever{.unknown_crops_days = 0, .known_crops_days = 0, .events_days = 0};
  auto report = ApplyRetention(forever, parts_, kNow);
  ASSERT_OK(report);
  EXPECT_EQ(report->total(), 0);
  EXPECT_TRUE(Exists(key));

  RetentionConfig negative;
  negative.events_days = -1;
  EXPECT_EQ(ApplyRetention(negative, parts_, kNow).status().code(),
            Status::Code::kInvalidArgument);
  RetentionConfig no_interval;
  no_interval.interval_s = 0;
  EXPECT_EQ(RetentionJob::Start(no_interval, parts_).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(ApplyRetention(config_, {}, kNow).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(RetentionTest, TheJobRunsAPassAtStartWithItsClockAndStops) {
  const std::string key = Add("old", 8, Decision::kUnknown);
  auto job = RetentionJob::Start(config_, parts_, [] { return kNow; });
  ASSERT_OK(job);
  ASSERT_TRUE(testing::Eventually([&] { return (*job)->passes() >= 1; }));
  (*job)->Stop();
  EXPECT_EQ((*job)->passes(), 1) << "the next pass is an hour away";
  EXPECT_FALSE(Exists(key));
  EXPECT_EQ(KeyOf("old"), "");
}

// An object store whose deletes, from the 11th on, wait until the test lets
// them go: a pass caught among many pictures, as on a slow bucket.
class GatedObjectStore : public ObjectStore {
 public:
  explicit GatedObjectStore(ObjectStore& inner) : inner_(inner) {}
  Status Put(const std::string& key, std::string_view bytes) override { return inner_.Put(key, bytes); }
  Result<std::string> Get(const std::string& key) override { return inner_.Get(key); }
  Status Move(const std::string& from, const std::string& to) override { return inner_.Move(from, to); }
  Result<bool> Exists(const std::string& key) override { return inner_.Exists(key); }
  Result<std::vector<std::string>> List(const std::string& prefix) override { return inner_.List(prefix); }
  Status Delete(const std::string& key) override {
    std::unique_lock lock(mu_);
    if (++deletes_ > kFree) open_cv_.wait(lock, [&] { return open_; });
    lock.unlock();
    return inner_.Delete(key);
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    open_cv_.notify_all();
  }
  int deletes() {
    std::lock_guard lock(mu_);
    return deletes_;
  }
  static constexpr int kFree = 10;

 private:
  ObjectStore& inner_;
  std::mutex mu_;
  std::condition_variable open_cv_;
  int deletes_ = 0;
  bool open_ = false;
};

TEST_F(RetentionTest, StopEndsARunningPassBeforeItsNextPictureAndTheNextPassFinishes) {
  constexpr int kExpired = 1200;  // more than two store batches
  for (int i = 0; i < kExpired; ++i) Add("old-" + std::to_string(i), 100, Decision::kUnknown);
  GatedObjectStore gated(*objects_);
  RetentionParts parts = parts_;
  parts.objects = &gated;
  auto job = RetentionJob::Start(config_, parts, [] { return kNow; });
  ASSERT_OK(job);
  // Whatever fails below, the gate opens before the job is joined.
  struct OpenOnExit {
    GatedObjectStore& gate;
    ~OpenOnExit() { gate.Open(); }
  } open_on_exit{gated};
  ASSERT_TRUE(testing::Eventually([&] { return gated.deletes() > GatedObjectStore::kFree; }));
  (*job)->RequestStop();
  gated.Open();  // the delete under way ends; no other starts
  (*job)->Stop();
  EXPECT_EQ((*job)->passes(), 1);
  EXPECT_EQ(gated.deletes(), GatedObjectStore::kFree + 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM sightings"), kExpired) << "rows go after their pictures";

  // Nothing half-done is lost: the next pass removes the rest, every row
  // and picture.
  auto report = ApplyRetention(config_, parts_, kNow);
  ASSERT_OK(report);
  EXPECT_FALSE(report->interrupted);
  EXPECT_EQ(report->sightings, kExpired);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM sightings"), 0);
  auto left = objects_->List("");
  ASSERT_OK(left);
  EXPECT_TRUE(left->empty()) << left->size() << " pictures left, e.g. " << left->front();

  // ApplyRetention itself, asked to stop before it starts, removes nothing.
  Add("one-more", 100, Decision::kUnknown);
  const std::atomic<bool> stop{true};
  auto stopped = ApplyRetention(config_, parts_, kNow, &stop);
  ASSERT_OK(stopped);
  EXPECT_TRUE(stopped->interrupted);
  EXPECT_EQ(stopped->total(), 0);
  EXPECT_FALSE(Gone("one-more"));
}

// The SightingStore methods retention needs, on any backend.
void CheckRetentionMethods(SightingStore& store) {
  auto add = [&](const std::string& id, int64_t captured_ms, std::optional<Decision> decision) {
    SightingRecord s;
    s.id = id;
    s.camera = "door";
    s.site = "office";
    s.captured_ms = captured_ms;
    s.image_key = "incoming/" + id + ".jpg";
    ASSERT_TRUE(store.Insert(s).ok());
    if (!decision) return;
    SightingOutcome o;
    o.id = id;
    o.decision = *decision;
    if (*decision == Decision::kKnown) o.person_id = "alice";
    o.image_key = "decided/" + id + ".jpg";
    ASSERT_TRUE(store.RecordDecision(o, {VisitChoice::Kind::kStart, 0}).ok());
  };
  add("a", 1000, Decision::kUnknown);
  add("b", 2000, Decision::kKnown);
  add("c", 3000, std::nullopt);
  add("d", 9000, Decision::kUnknown);
  auto ids = [&](int64_t before, const std::vector<Decision>& decisions, bool with_image) {
    std::vector<std::string> out;
    auto list = store.ListCapturedBefore(before, decisions, with_image, 10);
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    if (list.ok())
      for (const auto& s : *list) out.push_back(s.id);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids(5000, {}, false), (V{"a", "b", "c"})) << "oldest first, before the bound";
  EXPECT_EQ(ids(5000, {Decision::kUnknown, Decision::kRejected}, true), (V{"a"}));
  EXPECT_EQ(ids(5000, {Decision::kKnown}, true), (V{"b"}));
  auto limited = store.ListCapturedBefore(5000, {}, false, 2);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->size(), 2u);

  auto stale = store.ClearImageKey("a", "some/other/key.jpg");
  ASSERT_TRUE(stale.ok());
  EXPECT_FALSE(*stale) << "a key that changed meanwhile stays";
  auto cleared = store.ClearImageKey("a", "decided/a.jpg");
  ASSERT_TRUE(cleared.ok());
  EXPECT_TRUE(*cleared);
  EXPECT_EQ(store.Get("a")->image_key, "");
  EXPECT_EQ(ids(5000, {Decision::kUnknown}, true), V{});
  auto missing = store.ClearImageKey("nope", "x.jpg");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(*missing);

  auto deleted = store.DeleteSightings({"a", "b", "nope"});
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_EQ(*deleted, 2);
  EXPECT_EQ(store.Get("b").status().code(), Status::Code::kNotFound);
  auto visits = store.DeleteVisitsBefore(5000);
  ASSERT_TRUE(visits.ok()) << visits.status().ToString();
  EXPECT_EQ(*visits, 2) << "the visits of a and b; d's is newer";
  auto all = store.ListVisits(0, 0);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
}

TEST(RetentionStoreTest, SqliteStoreMethods) {
  testing::TempDir dir;
  auto db = Database::OpenSqlite(dir.Sub("concierge.db"), 5000);
  ASSERT_OK(db);
  auto store = NewSqliteSightingStore(db->get());
  CheckRetentionMethods(*store);
}

TEST(RetentionStoreTest, PostgresStoreMethods) {
  REQUIRE_POSTGRES();
  testing::PgCluster cluster;
  ASSERT_OK(cluster.Start());
  ASSERT_OK(cluster.CreateDatabase("retention"));
  auto store = OpenPgSightingStore(cluster.Url("retention"));
  ASSERT_OK(store);
  CheckRetentionMethods(**store);
}

}  // namespace
}  // namespace concierge
