#include "support/store_backend.h"

#include "store/pg_sighting_store.h"
#include "store/sqlite_sighting_store.h"
#include "support/pg_fixture.h"

namespace concierge::testing {

namespace {

// Unwraps `opened`, failing the test (and returning null) on an error.
template <typename T>
std::unique_ptr<T> Take(Result<std::unique_ptr<T>> opened, const char* what) {
  EXPECT_TRUE(opened.ok()) << what << ": " << opened.status().ToString();
  return opened.ok() ? std::move(*opened) : nullptr;
}

}  // namespace

std::string StoreBackendName(const ::testing::TestParamInfo<StoreBackend>& info) {
  return info.param == StoreBackend::kSqlite ? "Sqlite" : "Postgres";
}

void StoreBackendTest::SetUp() {
  if (!postgres()) {
    config_.kind = "sqlite";
    config_.sqlite_path = dir_.Sub("concierge.db");
    return;
  }
  REQUIRE_POSTGRES();
  config_.kind = "postgres";
  config_.postgres_url = NewSharedPgDatabase();
  ASSERT_FALSE(config_.postgres_url.empty());
}

void StoreBackendTest::TearDownTestSuite() { StopSharedPgCluster(); }

Database* StoreBackendTest::NewSqlite() {
  if (postgres()) return nullptr;
  auto db = Database::OpenSqlite(config_.sqlite_path, 5000);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  if (!db.ok()) return nullptr;
  sqlite_.push_back(std::move(*db));
  return sqlite_.back().get();
}

std::unique_ptr<OutboxStore> StoreBackendTest::OpenOutbox() {
  return Take(OpenOutboxStore(config_, NewSqlite()), "opening the outbox");
}

std::unique_ptr<StrangerClusters> StoreBackendTest::OpenClusters(float threshold,
                                                                 int64_t window_ms) {
  return Take(OpenStrangerClusters(config_, NewSqlite(), threshold, window_ms),
              "opening the stranger clusters");
}

std::unique_ptr<AuditLog> StoreBackendTest::OpenAudit() {
  return Take(OpenAuditLog(config_, NewSqlite()), "opening the audit log");
}

std::unique_ptr<AccountStore> StoreBackendTest::OpenAccounts() {
  return Take(OpenAccountStore(config_, NewSqlite()), "opening the accounts");
}

std::unique_ptr<RekognitionStore> StoreBackendTest::OpenRekognition() {
  return Take(OpenRekognitionStore(config_, NewSqlite()), "opening the Rekognition records");
}

std::unique_ptr<SettingsStore> StoreBackendTest::OpenSettings() {
  return Take(OpenSettingsStore(config_, NewSqlite()), "opening the settings");
}

std::unique_ptr<SightingStore> StoreBackendTest::OpenSightings() {
  if (postgres()) return Take(OpenPgSightingStore(config_.postgres_url), "opening sightings");
  Database* db = NewSqlite();
  return db ? NewSqliteSightingStore(db) : nullptr;
}

}  // namespace concierge::testing
