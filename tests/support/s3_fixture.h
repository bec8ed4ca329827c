// A real S3-compatible server for tests: s3rver (npm, installed by
// `npm ci --prefix tests/s3rver`) run by node on 127.0.0.1 with a private data
// folder. It can be stopped, paused and started again on the same port to
// simulate outages. s3rver checks the access key id but not SigV4 signatures.
// Runs as `node --openssl-legacy-provider` (node >= 17) for s3rver's DES tokens.
#pragma once

#include <string>

#include "core/config.h"
#include "core/status.h"
#include "support/child_process.h"
#include "support/test_env.h"

namespace concierge::testing {

class S3rverServer {
 public:
  // The only credentials s3rver knows.
  static constexpr char kAccessKey[] = "S3RVER";
  static constexpr char kSecretKey[] = "S3RVER";

  S3rverServer() = default;
  ~S3rverServer();  // kills the server if it runs
  S3rverServer(const S3rverServer&) = delete;
  S3rverServer& operator=(const S3rverServer&) = delete;

  // True when node is on PATH and tests/s3rver/node_modules holds s3rver.
  static bool Available();
  // What is missing, for the skip message.
  static std::string MissingWhat();

  // Starts s3rver and waits until it listens. The first start lets the kernel
  // pick a port; later starts reuse it (retrying while it lingers).
  Status Start();
  // SIGTERM, then waits for the exit. Stored objects stay for the next Start.
  Status Stop();
  // SIGSTOP / SIGCONT: connections are accepted by the kernel but never answered.
  void Pause();
  void Resume();

  bool running() const { return server_.running(); }
  int port() const { return port_; }
  std::string Endpoint() const;
  // The server's output so far, for failure messages.
  std::string Log() const;
  // An ObjectStoreConfig of kind "s3" for `bucket` on this server with its credentials.
  ObjectStoreConfig MakeConfig(const std::string& bucket = "concierge-test") const;

 private:
  Status StartOnce();

  TempDir dir_;
  int port_ = 0;
  ChildProcess server_;
};

}  // namespace concierge::testing

// Skips the current test loudly when node or s3rver is missing.
#define REQUIRE_S3RVER()                                                                   \
  do {                                                                                     \
    if (!::concierge::testing::S3rverServer::Available())                                  \
      GTEST_SKIP() << "\n*** " << ::concierge::testing::S3rverServer::MissingWhat()        \
                   << ": S3 tests skipped (run: npm ci --prefix tests/s3rver) ***";        \
  } while (0)
