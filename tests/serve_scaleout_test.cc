// Scale-out as it is deployed: two `concierge serve` processes (as if on two
// machines) share one PostgreSQL database, one object store and a mosquitto
// shared subscription. A person enrolled through the CLI into PostgreSQL is
// recognised by both servers on the sightings each of them takes, and a
// running server picks up a person enrolled by another process without a restart.
#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bus/mqtt_bus.h"
#include "support/child_process.h"
#include "support/mosquitto_fixture.h"
#include "support/pg_fixture.h"
#include "support/sighting_crops.h"
#include "support/test_env.h"

namespace concierge {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::CommandResult;
using testing::MosquittoBroker;
using testing::PgCluster;

const char* kPowell = "lfw/images/Colin_Powell/";
// Photos of Colin Powell for enrolment, and other photos of him for sightings.
const std::vector<std::string> kEnrolPhotos = {"Colin_Powell_0038.jpg", "Colin_Powell_0040.jpg"};
const std::vector<std::string> kSightingPhotos = {
    "Colin_Powell_0074.jpg", "Colin_Powell_0120.jpg", "Colin_Powell_0170.jpg",
    "Colin_Powell_0182.jpg", "Colin_Powell_0198.jpg", "Colin_Powell_0133.jpg"};

class ScaleOutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TEST_DATA();
    REQUIRE_MOSQUITTO();
    REQUIRE_POSTGRES();
    ASSERT_TRUE(broker_.Start().ok()) << broker_.Log();
    ASSERT_TRUE(pg_.Start().ok()) << pg_.Log();
    ASSERT_TRUE(pg_.CreateDatabase("concierge").ok());
    for (const char* name : {"a", "b", "cli"}) WriteConfig(name);
    auto bus = MqttBus::Open(broker_.MakeBusConfig(), "edge");
    ASSERT_TRUE(bus.ok());
    publisher_ = std::move(*bus);
  }

  // A data dir per process (as on its own machine), all on the shared
  // database, objects and broker.
  void WriteConfig(const std::string& name) {
    std::filesystem::create_directories(dir_.Sub(name));
    std::ofstream(dir_.Sub(name + "/config.json")) << nlohmann::json{
        {"database", {{"kind", "postgres"}, {"postgres_url", pg_.Url("concierge")}}},
        {"objects", {{"root", dir_.Sub("objects")}}},
        {"bus", {{"mqtt", {{"port", broker_.port()}}}}},
        {"serve", {{"workers", 1}, {"collection_refresh_ms", 200}, {"ingest_connections", 4}}}};
  }

  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(),
                {testing::BinaryPath(), "--data-dir", dir_.Sub("cli"), "--log-level", "warn"});
    return testing::RunCommand(args);
  }

  void Enrol(const std::string& person, const std::vector<std::string>& photos) {
    std::vector<std::string> args = {"enroll", "--largest", "--person", person};
    for (const auto& photo : photos) args.push_back(testing::DataPath(kPowell + photo));
    const CommandResult r = Cli(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  // Starts `concierge serve` on data dir `name` and waits until it subscribed.
  void StartServer(ChildProcess& server, const std::string& name) {
    ASSERT_TRUE(server.Start({testing::BinaryPath(), "--data-dir", dir_.Sub(name), "serve",
                              "--client-id", "concierge-serve-" + name},
                             {}, dir_.Sub(name + "/serve.log")));
    ASSERT_TRUE(server.WaitForLog("serve: ready", 120s)) << server.Log();
  }

  // Publishes a sighting of `jpeg`; returns its id.
  std::string Publish(const std::string& jpeg) {
    const Sighting s = testing::MakeSighting(jpeg);
    EXPECT_TRUE(
        publisher_->Publish({SightingTopic("concierge", s.site, s.camera), EncodeSighting(s), 1})
            .ok());
    return s.id;
  }

  // Every sighting as `concierge sightings --json` lists it, by id, once all
  // of `ids` are decided; fails after 120 s without progress.
  std::map<std::string, nlohmann::json> WaitDecided(const std::set<std::string>& ids) {
    size_t last_decided = 0;
    auto last_change = std::chrono::steady_clock::now();
    for (;;) {
      const CommandResult r = Cli({"sightings", "--json", "--limit", "0"});
      EXPECT_EQ(r.exit_code, 0) << r.err;
      std::map<std::string, nlohmann::json> by_id;
      size_t decided = 0;
      if (r.exit_code == 0) {
        const nlohmann::json doc = nlohmann::json::parse(r.out);
        for (const auto& s : doc["sightings"]) {
          by_id[s["id"]] = s;
          decided += ids.count(s["id"]) && s["decision"] != "pending";
        }
      }
      if (decided == ids.size()) return by_id;
      if (decided != last_decided) {
        last_decided = decided;
        last_change = std::chrono::steady_clock::now();
      } else if (std::chrono::steady_clock::now() - last_change > 120s) {
        ADD_FAILURE() << decided << " of " << ids.size() << " sightings decided";
        return by_id;
      }
      std::this_thread::sleep_for(200ms);
    }
  }

  // How many sightings `server` decided as `person` (per its log).
  static size_t DecidedAs(const ChildProcess& server, const std::string& person) {
    const std::string log = server.Log();
    const std::string needle = "person=" + person + " ";
    size_t count = 0;
    for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1))
      ++count;
    return count;
  }

  testing::TempDir dir_;
  MosquittoBroker broker_;
  PgCluster pg_;
  std::unique_ptr<MqttBus> publisher_;
};

TEST_F(ScaleOutTest, PersonEnrolledIntoPostgresIsRecognisedByBothServers) {
  Enrol("powell", kEnrolPhotos);
  if (HasFatalFailure()) return;
  ChildProcess a, b;
  StartServer(a, "a");
  StartServer(b, "b");
  if (HasFatalFailure()) return;

  // Powell and strangers in turn; the shared subscription splits them.
  const std::vector<std::string> strangers = testing::LfwFaceCrops(4);
  ASSERT_EQ(strangers.size(), 4u);
  std::set<std::string> powell, others;
  for (int round = 0; round < 4; ++round) {
    for (const auto& photo : kSightingPhotos)
      powell.insert(Publish(testing::FaceCrop(kPowell + photo)));
    for (const auto& crop : strangers) others.insert(Publish(crop));
  }
  ASSERT_TRUE(publisher_->Flush(30s).ok());
  std::set<std::string> all = powell;
  all.insert(others.begin(), others.end());
  const auto listed = WaitDecided(all);

  size_t known = 0;
  for (const auto& id : powell) {
    ASSERT_TRUE(listed.count(id)) << id;
    known += listed.at(id)["person"] == "powell";
  }
  for (const auto& id : others) {
    ASSERT_TRUE(listed.count(id)) << id;
    EXPECT_NE(listed.at(id)["person"], "powell") << listed.at(id).dump();
  }
  // Every photo above is recognised alone (identify); allow a rare miss on a crop.
  EXPECT_GE(known, powell.size() * 9 / 10);
  EXPECT_GE(DecidedAs(a, "powell"), 1u) << a.Log();
  EXPECT_GE(DecidedAs(b, "powell"), 1u) << b.Log();
  EXPECT_EQ(DecidedAs(a, "powell") + DecidedAs(b, "powell"), known);
  EXPECT_EQ(listed.size(), all.size()) << "a sighting was recorded twice or went astray";
}

TEST_F(ScaleOutTest, RunningServerSeesPeopleEnrolledAndForgottenElsewhere) {
  ChildProcess server;
  StartServer(server, "a");
  if (HasFatalFailure()) return;
  const std::string crop = testing::FaceCrop(std::string(kPowell) + kSightingPhotos[0]);

  const std::string before = Publish(crop);
  ASSERT_TRUE(publisher_->Flush(30s).ok());
  ASSERT_EQ(WaitDecided({before})[before]["decision"], "unknown") << server.Log();

  const size_t mark = server.Log().size();
  Enrol("powell", kEnrolPhotos);
  // The enrolment adds its faces one by one; wait for the reload that saw all of them.
  const std::string all_faces =
      "reloaded people=1 faces=" + std::to_string(kEnrolPhotos.size());
  ASSERT_TRUE(server.WaitForLog(all_faces, 60s, mark)) << server.Log();
  const std::string after = Publish(crop);
  ASSERT_TRUE(publisher_->Flush(30s).ok());
  auto listed = WaitDecided({after});
  EXPECT_EQ(listed[after]["decision"], "known");
  EXPECT_EQ(listed[after]["person"], "powell");

  const size_t forgotten_mark = server.Log().size();
  const CommandResult forget = Cli({"people", "forget", "powell"});
  ASSERT_EQ(forget.exit_code, 0) << forget.err;
  ASSERT_TRUE(server.WaitForLog("reloaded people=0 faces=0", 60s, forgotten_mark))
      << server.Log();
  const std::string gone = Publish(crop);
  ASSERT_TRUE(publisher_->Flush(30s).ok());
  EXPECT_EQ(WaitDecided({gone})[gone]["decision"], "unknown");
}

}  // namespace
}  // namespace concierge
