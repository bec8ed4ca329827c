// What only the PostgreSQL SightingStore has, against a real private
// PostgreSQL cluster: migrations (once, across concurrent openers; a newer
// schema refused), clear connection errors that never show the password, and
// the database going away and coming back. The behaviour both backends share
// is store_sightings_test.cc.
#include "store/pg_sighting_store.h"

#include <atomic>
#include <cmath>
#include <limits>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "pipeline/ingest.h"
#include "pipeline/visits.h"
#include "support/pg_fixture.h"
#include "support/sighting_records.h"
#include "support/test_env.h"

namespace concierge {
namespace {

using testing::NewSharedPgDatabase;
using testing::PgCluster;

constexpr int64_t kT0 = 1'790'000'000'000;  // 2026-09-21

using testing::KnownOutcome;
using testing::PendingSighting;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// One cluster for the suite (initdb is slow); a fresh database for each test.
class PgSightingStoreTest : public ::testing::Test {
 protected:
  static void TearDownTestSuite() { testing::StopSharedPgCluster(); }

  void SetUp() override {
    REQUIRE_POSTGRES();
    url_ = NewSharedPgDatabase();
    ASSERT_FALSE(url_.empty());
    auto store = OpenPgSightingStore(url_);
    ASSERT_OK(store);
    store_ = std::move(*store);
  }

  std::string url_;
  std::unique_ptr<SightingStore> store_;
};


TEST_F(PgSightingStoreTest, MigrationsApplyOnceAcrossReopensAndConcurrentOpeners) {
  ASSERT_OK(store_->Insert(PendingSighting("kept-1", kT0)));
  const std::string fresh = NewSharedPgDatabase();
  std::vector<std::thread> openers;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i)
    openers.emplace_back([&] {
      for (const std::string& url : {fresh, url_})
        if (!OpenPgSightingStore(url).ok()) failures.fetch_add(1);
    });
  for (auto& t : openers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_TRUE(store_->Get("kept-1").ok());

  for (const std::string& url : {fresh, url_}) {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    const pqxx::result r =
        tx.exec("SELECT component, version FROM schema_migrations ORDER BY version");
    ASSERT_EQ(r.size(), static_cast<size_t>(PgSightingSchemaVersion()));
    for (size_t i = 0; i < r.size(); ++i) {
      EXPECT_STREQ(r[i][0].c_str(), "sightings");
      EXPECT_EQ(r[i][1].as<int>(), static_cast<int>(i) + 1);
    }
  }
}

TEST_F(PgSightingStoreTest, ASchemaNewerThanThisBuildIsRefused) {
  {
    pqxx::connection c(url_);
    pqxx::work tx(c);
    tx.exec("INSERT INTO schema_migrations VALUES ('sightings', 99, 0)");
    tx.commit();
  }
  const auto store = OpenPgSightingStore(url_);
  EXPECT_EQ(store.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_PRED2(Contains, store.status().message(), "99");
}

TEST_F(PgSightingStoreTest, ConnectionErrorsAreClearAndNeverShowThePassword) {
  EXPECT_EQ(OpenPgSightingStore("").status().code(), Status::Code::kInvalidArgument);

  const auto missing = OpenPgSightingStore(testing::SharedPgCluster()->Url("no_such_db"));
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound) << missing.status().ToString();
  EXPECT_PRED2(Contains, missing.status().message(), "no_such_db");

  // Port 1: nothing listens there, so the connection is refused at once.
  const auto nobody = OpenPgSightingStore("postgresql://concierge:hunter2-secret@127.0.0.1:1/x");
  EXPECT_EQ(nobody.status().code(), Status::Code::kUnavailable);
  EXPECT_FALSE(Contains(nobody.status().message(), "hunter2-secret"));
  const auto kv = OpenPgSightingStore("host=127.0.0.1 port=1 password=hunter2-secret dbname=x");
  EXPECT_EQ(kv.status().code(), Status::Code::kUnavailable);
  EXPECT_FALSE(Contains(kv.status().message(), "hunter2-secret"));
}

// The database stops mid-test: calls fail promptly with kUnavailable, and work
// again once it is back, on the same store object.
TEST(PgSightingStoreOutage, DatabaseGoesAwayAndComesBack) {
  REQUIRE_POSTGRES();
  PgCluster cluster;
  ASSERT_TRUE(cluster.Start().ok()) << cluster.Log();
  ASSERT_TRUE(cluster.CreateDatabase("outage").ok());
  auto opened = OpenPgSightingStore(cluster.Url("outage"));
  ASSERT_OK(opened);
  SightingStore& store = **opened;
  ASSERT_OK(store.Insert(PendingSighting("before", kT0)));

  ASSERT_TRUE(cluster.Stop().ok());
  const auto start = std::chrono::steady_clock::now();
  const auto insert = store.Insert(PendingSighting("during", kT0 + 1));
  EXPECT_EQ(insert.status().code(), Status::Code::kUnavailable) << insert.status().ToString();
  EXPECT_EQ(store.Get("before").status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(store.ListPending().status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(store.RecordDecision(KnownOutcome("before", "alice"), {VisitChoice::Kind::kStart, 0})
                .status()
                .code(),
            Status::Code::kUnavailable);
  EXPECT_EQ(store.ListVisits(0, 0).status().code(), Status::Code::kUnavailable);
  // Generous: proves the calls are bounded, not how fast they are.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));

  ASSERT_TRUE(cluster.Start().ok()) << cluster.Log();
  auto inserted = store.Insert(PendingSighting("after", kT0 + 2));
  ASSERT_OK(inserted);
  EXPECT_TRUE(*inserted);
  auto pending = store.ListPending();
  ASSERT_OK(pending);
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].id, "before");
  EXPECT_EQ((*pending)[1].id, "after");

  // A crash (no goodbye to clients), then recovery.
  ASSERT_TRUE(cluster.Kill().ok());
  EXPECT_EQ(store.Get("before").status().code(), Status::Code::kUnavailable);
  ASSERT_TRUE(cluster.Start().ok()) << cluster.Log();
  auto decided =
      store.RecordDecision(KnownOutcome("before", "alice"), {VisitChoice::Kind::kStart, 0});
  ASSERT_OK(decided);
  EXPECT_TRUE(decided->applied);
  EXPECT_EQ(store.Get("after")->decision, Decision::kPending);
}

}  // namespace
}  // namespace concierge
