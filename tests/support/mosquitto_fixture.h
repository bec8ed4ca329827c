// A real Mosquitto broker for tests: /usr/sbin/mosquitto on a free 127.0.0.1 port,
// with a generated config, that can be stopped and started again on the same port
// to simulate an outage.
#pragma once

#include <string>

#include "core/config.h"
#include "core/status.h"
#include "support/child_process.h"
#include "support/test_env.h"

namespace concierge::testing {

struct MosquittoOptions {
  // Keep sessions and queued messages over a broker restart (saved on SIGTERM).
  bool persistence = false;
  // With both set, anonymous clients are refused and this user is the only one.
  std::string username;
  std::string password;
};

class MosquittoBroker {
 public:
  explicit MosquittoBroker(MosquittoOptions options = {});
  ~MosquittoBroker();  // kills the broker if it runs
  MosquittoBroker(const MosquittoBroker&) = delete;
  MosquittoBroker& operator=(const MosquittoBroker&) = delete;

  // True when /usr/sbin/mosquitto exists; tests skip loudly otherwise.
  static bool Available();
  // True when mosquitto_passwd exists (needed for a username/password broker).
  static bool PasswdToolAvailable();

  // Starts the broker and waits until it accepts connections. The first start
  // picks a free port (retrying on a collision); later starts reuse it.
  Status Start();
  // Sends SIGTERM and waits for the broker to exit.
  Status Stop();
  // SIGKILL: a crash, so nothing is saved and clients see no goodbye.
  Status Kill();
  // SIGSTOP / SIGCONT: connections stay open but nothing is answered meanwhile.
  void Pause();
  void Resume();

  bool running() const { return broker_.running(); }
  int port() const { return port_; }
  // The broker's log so far, for failure messages.
  std::string Log() const;
  // A BusConfig for this broker: kind "mqtt", MQTT `protocol`, given client id.
  BusConfig MakeBusConfig(const std::string& client_id = "", int protocol = 5) const;

 private:
  Status StartOnce();

  MosquittoOptions options_;
  TempDir dir_;
  int port_ = 0;
  ChildProcess broker_;
};

}  // namespace concierge::testing

// Skips the current test loudly when the broker binary is missing.
#define REQUIRE_MOSQUITTO()                                                        \
  do {                                                                             \
    if (!::concierge::testing::MosquittoBroker::Available())                       \
      GTEST_SKIP() << "\n*** /usr/sbin/mosquitto MISSING: MQTT tests skipped ***"; \
  } while (0)
