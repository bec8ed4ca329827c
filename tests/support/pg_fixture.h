// A real PostgreSQL for tests: a private cluster (initdb into a temp folder,
// trust auth for user "concierge") whose postmaster runs in the foreground on a
// free 127.0.0.1 port. It can be stopped, killed and started again on the same
// port to simulate outages. As root, the server runs as the "postgres" user,
// since PostgreSQL refuses to run as root.
#pragma once

#include <string>

#include "core/status.h"
#include "support/child_process.h"
#include "support/test_env.h"

namespace concierge::testing {

class PgCluster {
 public:
  PgCluster() = default;
  ~PgCluster();  // kills the server if it runs; the folder goes with TempDir
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // True when initdb, postgres and createdb of PostgreSQL 15 (or the newest
  // installed) exist, and, as root, a "postgres" user to run them.
  static bool Available();
  // What is missing, for the skip message.
  static std::string MissingWhat();

  // First call: initdb, then start. Later calls start the same cluster on the
  // same port. Waits until it accepts connections.
  Status Start();
  // Fast shutdown (SIGINT): sessions are ended, the server exits cleanly.
  Status Stop();
  // SIGKILL to the postmaster and its backends: a crash; the next Start
  // recovers from the WAL.
  Status Kill();

  // Creates database `name`; needs a running cluster.
  Status CreateDatabase(const std::string& name);
  // postgresql://concierge@127.0.0.1:<port>/<database>
  std::string Url(const std::string& database) const;

  bool running() const { return server_.running(); }
  int port() const { return port_; }
  // The server's log so far, for failure messages.
  std::string Log() const;

 private:
  Status StartOnce();

  TempDir dir_;
  bool initialised_ = false;
  int port_ = 0;
  ChildProcess server_;
};

// The test program's one cluster, started on the first call (initdb is slow)
// and returned by later ones. Needs PgCluster::Available(). Fails the test and
// returns null when it does not run.
PgCluster* SharedPgCluster();

// A new empty database on SharedPgCluster(): its URL, or "" after failing the test.
std::string NewSharedPgDatabase();

// Stops and removes the shared cluster (for a suite's TearDownTestSuite); the
// next SharedPgCluster() starts a new one.
void StopSharedPgCluster();

}  // namespace concierge::testing

// Skips the current test loudly when PostgreSQL's server binaries are missing.
#define REQUIRE_POSTGRES()                                                              \
  do {                                                                                  \
    if (!::concierge::testing::PgCluster::Available())                                  \
      GTEST_SKIP() << "\n*** " << ::concierge::testing::PgCluster::MissingWhat()        \
                   << ": PostgreSQL tests skipped (apt-get install postgresql) ***";    \
  } while (0)
