// One test suite over every metadata backend: derive the fixture from
// StoreBackendTest, write TEST_P, and instantiate with
// CONCIERGE_ALL_STORE_BACKENDS(Suite). SQLite runs on a file in a temporary
// folder; PostgreSQL on a fresh database of a private cluster (started once
// per test program, skipped loudly when PostgreSQL is not installed).
//
// Each Open* call opens the store anew on the same database, as another
// process or a restarted one would: with PostgreSQL over its own connection,
// with SQLite over its own Database on the same file.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/config.h"
#include "store/account_store.h"
#include "store/audit_log.h"
#include "store/database.h"
#include "store/outbox_store.h"
#include "store/rekognition_store.h"
#include "store/settings_store.h"
#include "store/sighting_store.h"
#include "store/stranger_clusters.h"
#include "support/test_env.h"

namespace concierge::testing {

enum class StoreBackend { kSqlite, kPostgres };

// "Sqlite" or "Postgres", for test names.
std::string StoreBackendName(const ::testing::TestParamInfo<StoreBackend>& info);

class StoreBackendTest : public ::testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override;
  static void TearDownTestSuite();

  bool postgres() const { return GetParam() == StoreBackend::kPostgres; }
  // database.kind and the file or URL of this test's database.
  const DatabaseConfig& database_config() const { return config_; }

  // Each returns a new store on this test's database (see the top); the
  // caller owns it. A failure fails the test and returns null.
  std::unique_ptr<OutboxStore> OpenOutbox();
  std::unique_ptr<StrangerClusters> OpenClusters(float threshold, int64_t window_ms);
  std::unique_ptr<AuditLog> OpenAudit();
  std::unique_ptr<AccountStore> OpenAccounts();
  std::unique_ptr<SightingStore> OpenSightings();
  std::unique_ptr<RekognitionStore> OpenRekognition();
  std::unique_ptr<SettingsStore> OpenSettings();

 private:
  // A new Database on the SQLite file, kept open until the test ends; null
  // with PostgreSQL.
  Database* NewSqlite();

  TempDir dir_;
  DatabaseConfig config_;
  std::vector<std::unique_ptr<Database>> sqlite_;
};

}  // namespace concierge::testing

#define CONCIERGE_ALL_STORE_BACKENDS(suite)                                          \
  INSTANTIATE_TEST_SUITE_P(Backends, suite,                                          \
                           ::testing::Values(::concierge::testing::StoreBackend::kSqlite, \
                                             ::concierge::testing::StoreBackend::kPostgres), \
                           ::concierge::testing::StoreBackendName)
