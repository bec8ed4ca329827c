// `concierge serve` as a real process on a real broker, killed with SIGKILL in
// the middle of a stream of sightings and started again with the same MQTT
// client id (a persistent session): every sighting is recorded exactly once and
// every stored picture decodes.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bus/mqtt_bus.h"
#include "pipeline/server.h"
#include "store/database.h"
#include "support/child_process.h"
#include "support/mosquitto_fixture.h"
#include "support/sighting_crops.h"
#include "support/test_env.h"
#include "vision/image_io.h"

namespace concierge {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::MosquittoBroker;

constexpr int kSightings = 2000;
// The broker queues at most 1000 messages per session (mosquitto's
// max_queued_messages), so the publisher never runs further ahead than this.
constexpr int kMaxAhead = 400;

class ServeCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TEST_DATA();
    REQUIRE_MOSQUITTO();
    ASSERT_TRUE(broker_.Start().ok());
    std::ofstream(dir_.Sub("config.json")) << nlohmann::json{
        {"bus",
         {{"mqtt", {{"port", broker_.port()}, {"client_id", "concierge-serve-crash-test"}}}}},
        {"serve", {{"workers", 1}, {"stop_timeout_ms", 1000}}}};
  }

  // Starts `concierge serve` and waits until it has subscribed.
  void StartServer() {
    const size_t from = server_.Log().size();
    ASSERT_TRUE(server_.Start({testing::BinaryPath(), "--data-dir", dir_.path(), "serve"}, {},
                              dir_.Sub("serve.log")));
    ASSERT_TRUE(server_.WaitForLog("serve: ready", 120s, from)) << server_.Log();
  }

  // Eight face crops to publish, the server, and an edge publisher it listens to.
  void StartServerAndPublisher() {
    crops_ = testing::LfwFaceCrops(8);
    ASSERT_EQ(crops_.size(), 8u);
    StartServer();
    if (HasFatalFailure()) return;
    auto bus = MqttBus::Open(broker_.MakeBusConfig(), "edge");
    ASSERT_TRUE(bus.ok());
    publisher_ = std::move(*bus);
    ASSERT_TRUE(publisher_->WaitSubscribed(30s).ok());
  }

  // Sightings in the database (only the pending ones with `pending`), read as
  // any other reader would.
  int64_t Recorded(bool pending = false) {
    auto db = Database::OpenSqlite(dir_.Sub("concierge.db"), 5000, Database::Access::kReadOnly);
    if (!db.ok()) return 0;  // not created yet
    return (*db)->WithConnection([pending](Connection& c) -> int64_t {
      auto stmt = c.Prepare(pending ? "SELECT COUNT(*) FROM sightings WHERE decision = 'pending'"
                                    : "SELECT COUNT(*) FROM sightings");
      if (!stmt.ok()) return 0;
      auto row = stmt->Step();
      return row.ok() && *row ? stmt->ColumnInt(0) : 0;
    });
  }

  // Waits until at least `n` sightings are recorded; false once the count has
  // not grown for `stall` (progress, not wall time, so a loaded machine only
  // makes it slower).
  bool WaitRecorded(int64_t n, std::chrono::seconds stall = 60s) {
    int64_t last = -1;
    auto last_change = std::chrono::steady_clock::now();
    for (int64_t now = Recorded(); now < n; now = Recorded()) {
      if (now != last) {
        last = now;
        last_change = std::chrono::steady_clock::now();
      } else if (std::chrono::steady_clock::now() - last_change > stall) {
        return false;
      }
      std::this_thread::sleep_for(100ms);
    }
    return true;
  }

  // Publishes sightings [from, to) of the stream, never running more than
  // kMaxAhead ahead of what the server recorded when `paced`.
  void Publish(int from, int to, bool paced) {
    for (int i = from; i < to; ++i) {
      if (paced && i % 50 == 0) {
        ASSERT_TRUE(WaitRecorded(i - kMaxAhead)) << server_.Log();
      }
      const Sighting s = testing::MakeSighting(crops_[static_cast<size_t>(i) % crops_.size()]);
      ids_.insert(s.id);
      ASSERT_TRUE(
          publisher_->Publish({SightingTopic("concierge", s.site, s.camera), EncodeSighting(s), 1})
              .ok());
    }
    ASSERT_TRUE(publisher_->Flush(60s).ok());
  }

  testing::TempDir dir_;
  MosquittoBroker broker_;
  ChildProcess server_;
  std::unique_ptr<MqttBus> publisher_;
  std::vector<std::string> crops_;
  std::set<std::string> ids_;
};

TEST_F(ServeCrashTest, SigkillMidStreamThenRestartRecordsEverySightingOnce) {
  StartServerAndPublisher();
  if (HasFatalFailure()) return;

  // Kill it while it is busy ingesting, with messages in flight.
  Publish(0, 1200, /*paced=*/true);
  if (HasFatalFailure()) return;
  ASSERT_TRUE(WaitRecorded(600)) << server_.Log();
  server_.Signal(SIGKILL);
  ASSERT_EQ(server_.Wait(30s), 128 + SIGKILL);
  const int64_t at_kill = Recorded();
  EXPECT_LT(at_kill, 1200) << "the kill came too late to test anything";

  // The broker keeps what arrives meanwhile for the server's session.
  Publish(1200, 1500, /*paced=*/false);
  if (HasFatalFailure()) return;
  StartServer();
  Publish(1500, kSightings, /*paced=*/true);
  if (HasFatalFailure()) return;

  ASSERT_TRUE(WaitRecorded(kSightings))
      << Recorded() << " of " << kSightings << " recorded (" << at_kill << " at the kill). "
      << "Losing exactly bus.queue_capacity (256) means the MQTT bus acknowledged messages "
         "to the broker before its handler had stored them.";
  ASSERT_EQ(ids_.size(), static_cast<size_t>(kSightings));

  // Twice: drain what was received, skip the recognition backlog (left pending).
  server_.Signal(SIGTERM);
  server_.Signal(SIGTERM);
  EXPECT_EQ(server_.Wait(120s), 0) << server_.Log();

  const auto listed =
      testing::RunCommand({testing::BinaryPath(), "--data-dir", dir_.path(), "--log-level", "error",
                           "sightings", "--json", "--limit", "0"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const auto doc = nlohmann::json::parse(listed.out);
  std::set<std::string> recorded;
  size_t unreadable = 0;
  for (const auto& s : doc["sightings"]) {
    recorded.insert(s["id"].get<std::string>());
    auto bytes = ReadFileBytes(dir_.Sub("objects/" + s["image_key"].get<std::string>()), 1 << 24);
    if (!bytes.ok() || !DecodeImage(*bytes, {}).ok()) ++unreadable;
  }
  EXPECT_EQ(doc["sightings"].size(), static_cast<size_t>(kSightings));
  EXPECT_EQ(recorded, ids_);
  EXPECT_EQ(unreadable, 0u);
}

TEST_F(ServeCrashTest, SigtermWithARecognitionBacklogStopsWithinTheStopTimeout) {
  StartServerAndPublisher();
  if (HasFatalFailure()) return;
  constexpr int kBacklog = 600;
  Publish(0, kBacklog, /*paced=*/true);
  if (HasFatalFailure()) return;
  ASSERT_TRUE(WaitRecorded(kBacklog)) << server_.Log();
  ASSERT_GT(Recorded(/*pending=*/true), 0) << "recognition caught up before the SIGTERM";

  // One SIGTERM: the backlog gets serve.stop_timeout_ms (1 s), not all it needs.
  server_.Signal(SIGTERM);
  EXPECT_EQ(server_.Wait(60s), 0) << server_.Log();
  EXPECT_NE(server_.Log().find("serve.stop_timeout_ms"), std::string::npos) << server_.Log();
  const int64_t left = Recorded(/*pending=*/true);
  EXPECT_GT(left, 0);

  StartServer();  // resumes what was left
  int64_t last = left;
  auto last_change = std::chrono::steady_clock::now();
  while (Recorded(/*pending=*/true) > 0) {
    if (Recorded(true) != last) {
      last = Recorded(true);
      last_change = std::chrono::steady_clock::now();
    }
    ASSERT_LT(std::chrono::steady_clock::now() - last_change, 120s) << server_.Log();
    std::this_thread::sleep_for(200ms);
  }
  server_.Signal(SIGTERM);
  EXPECT_EQ(server_.Wait(60s), 0) << server_.Log();
  EXPECT_EQ(Recorded(), kBacklog);
}

TEST_F(ServeCrashTest, RetireTakesWhatTheBrokerQueuedThenEndsTheSessions) {
  crops_ = testing::LfwFaceCrops(8);
  ASSERT_EQ(crops_.size(), 8u);
  StartServer();
  server_.Signal(SIGTERM);
  ASSERT_EQ(server_.Wait(60s), 0) << server_.Log();
  auto bus = MqttBus::Open(broker_.MakeBusConfig(), "edge");
  ASSERT_TRUE(bus.ok());
  publisher_ = std::move(*bus);
  ASSERT_TRUE(publisher_->WaitSubscribed(30s).ok());
  Publish(0, 100, /*paced=*/false);  // queued for the stopped server's sessions
  if (HasFatalFailure()) return;

  const auto retired = testing::RunCommand(
      {testing::BinaryPath(), "--data-dir", dir_.path(), "serve", "--retire"});
  ASSERT_EQ(retired.exit_code, 0) << retired.err;
  EXPECT_EQ(Recorded(), 100) << retired.err;
  EXPECT_NE(retired.err.find("ended the broker session of 'concierge-serve-crash-test-7'"),
            std::string::npos)
      << retired.err;

  // Another server in the group now gets every sighting.
  BusConfig live_config = broker_.MakeBusConfig();
  live_config.kind = "mqtt";
  auto live = MqttBus::Open(live_config, "serve");
  ASSERT_TRUE(live.ok());
  std::atomic<int> received{0};
  ASSERT_TRUE((*live)->Subscribe(SightingFilter(live_config), [&](const Message&) {
                       ++received;
                       return Status::Ok();
                     }).ok());
  ASSERT_TRUE((*live)->WaitSubscribed(30s).ok());
  Publish(100, 120, /*paced=*/false);
  if (HasFatalFailure()) return;
  ASSERT_TRUE(testing::Eventually([&] { return received == 20; })) << received;
}

}  // namespace
}  // namespace concierge
