// Home Assistant MQTT discovery against a real mosquitto: retained configs a
// subscriber that comes later still gets (HA after a restart), presence and
// "last stranger" states, and a forgotten person's entity removed (empty
// retained config) while others stay; a broker that is down at the start
// gets the latest state when it comes; and `concierge run` wired to it.
#include <signal.h>

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "bus/mqtt_bus.h"
#include "http/auth.h"
#include "notify/home_assistant.h"
#include "store/database.h"
#include "support/child_process.h"
#include "support/models.h"
#include "support/mosquitto_fixture.h"
#include "support/test_env.h"

namespace concierge {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using testing::Eventually;
using testing::MosquittoBroker;

// The latest payload per topic a subscriber got.
class Retained {
 public:
  Handler handler() {
    return [this](const Message& m) {
      std::lock_guard lock(mu_);
      topics_[m.topic] = m.payload;
      return Status::Ok();
    };
  }
  bool Has(const std::string& topic) const {
    std::lock_guard lock(mu_);
    return topics_.count(topic) > 0;
  }
  std::string Get(const std::string& topic) const {
    std::lock_guard lock(mu_);
    auto it = topics_.find(topic);
    return it == topics_.end() ? "" : it->second;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> topics_;
};

std::unique_ptr<MqttBus> Connect(const MosquittoBroker& broker, const std::string& role) {
  auto bus = MqttBus::Open(broker.MakeBusConfig(), role);
  EXPECT_TRUE(bus.ok()) << bus.status().ToString();
  if (!bus.ok()) return nullptr;
  EXPECT_TRUE(Eventually([&] { return (*bus)->IsConnected(); }));
  return std::move(*bus);
}

// Home Assistant as a later subscriber of `broker`: what it got, per topic.
std::unique_ptr<MqttBus> Subscribe(const MosquittoBroker& broker, const std::string& role,
                                   Retained* seen) {
  auto bus = Connect(broker, role);
  if (!bus) return nullptr;
  for (const char* filter : {"homeassistant/#", "concierge/ha/#"}) {
    const Status s = bus->Subscribe(filter, seen->handler());
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  const Status subscribed = bus->WaitSubscribed(30s);
  EXPECT_TRUE(subscribed.ok()) << subscribed.ToString();
  return subscribed.ok() ? std::move(bus) : nullptr;
}

// A collection with Ana and Bo.
class HomeAssistantTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::OpenSqlite(dir_.path() + "/concierge.db", 5000);
    ASSERT_OK(db);
    db_ = std::move(*db);
    auto faces = FaceCollection::Open(db_.get(), "default", testing::ModelSpaces());
    ASSERT_OK(faces);
    faces_ = std::move(*faces);
    ASSERT_OK(faces_->AddPerson({"ana", "Ana", "", 0}));
    ASSERT_OK(faces_->AddPerson({"bo", "Bo", "", 0}));
  }

  testing::TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<FaceCollection> faces_;
};

constexpr char kAnaConfig[] = "homeassistant/binary_sensor/concierge/ana_presence/config";
constexpr char kBoConfig[] = "homeassistant/binary_sensor/concierge/bo_presence/config";
constexpr char kDoorConfig[] = "homeassistant/sensor/concierge/front_door_last_stranger/config";

TEST_F(HomeAssistantTest, DiscoveryIsRetainedUpdatedAndRemovedOnForget) {
  REQUIRE_MOSQUITTO();
  MosquittoBroker broker;
  ASSERT_OK(broker.Start());
  auto pub = Connect(broker, "home-assistant");
  ASSERT_NE(pub, nullptr);
  Config config;
  config.serve.visit_window_s = 300;
  HomeAssistantDiscovery ha(config, pub.get(), faces_.get(), nullptr);
  ASSERT_OK(ha.Start({"front door"}));
  ASSERT_OK(pub->Flush(30s));

  // Home Assistant, subscribing afterwards, still gets every config.
  Retained seen;
  auto first = Subscribe(broker, "ha-1", &seen);
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(Eventually([&] { return seen.Has(kAnaConfig) && seen.Has(kDoorConfig); }));
  const json ana = json::parse(seen.Get(kAnaConfig));
  EXPECT_EQ(ana["device_class"], "presence");
  EXPECT_EQ(ana["unique_id"], "concierge_ana_presence");
  EXPECT_EQ(ana["state_topic"], "concierge/ha/person/ana/presence");
  EXPECT_EQ(ana["off_delay"], 300);
  EXPECT_EQ(ana["name"], "Ana present");
  const json door = json::parse(seen.Get(kDoorConfig));
  EXPECT_EQ(door["device_class"], "timestamp");
  EXPECT_EQ(door["state_topic"], "concierge/ha/camera/front_door/last_stranger");

  SightingRecord known;
  known.id = "s1";
  known.camera = "front door";
  known.decision = Decision::kKnown;
  known.person_id = "ana";
  known.captured_ms = 1'795'478'400'000;
  ASSERT_OK(ha.HandleEvent(SightingEvent{SightingEvent::Kind::kDecided, known}));
  SightingRecord stranger = known;
  stranger.id = "s2";
  stranger.decision = Decision::kUnknown;
  stranger.person_id.reset();
  ASSERT_OK(ha.HandleEvent(SightingEvent{SightingEvent::Kind::kDecided, stranger}));
  ASSERT_TRUE(Eventually([&] {
    return seen.Get("concierge/ha/person/ana/presence") == "ON" &&
           seen.Get("concierge/ha/camera/front_door/last_stranger") == "2026-11-24T00:00:00.000Z";
  })) << seen.Get("concierge/ha/camera/front_door/last_stranger");

  // Forgetting Ana empties her retained config (HA removes the entity).
  ha.PersonForgotten("ana", {});
  EXPECT_EQ(ha.pending(), 0u);
  ASSERT_OK(pub->Flush(30s));
  ASSERT_TRUE(Eventually([&] { return seen.Has(kAnaConfig) && seen.Get(kAnaConfig).empty(); }));

  // A later subscriber gets Bo's and the camera's configs but nothing of Ana.
  Retained after;
  auto later = Subscribe(broker, "ha-2", &after);
  ASSERT_NE(later, nullptr);
  ASSERT_TRUE(Eventually([&] {
    return after.Has(kBoConfig) && after.Has(kDoorConfig) &&
           after.Has("concierge/ha/camera/front_door/last_stranger");
  }));
  EXPECT_FALSE(after.Has(kAnaConfig));
  EXPECT_FALSE(after.Has("concierge/ha/person/ana/presence"));
}

TEST_F(HomeAssistantTest, ABrokerThatIsDownGetsTheLatestStateWhenItComes) {
  REQUIRE_MOSQUITTO();
  MosquittoBroker broker;
  ASSERT_OK(broker.Start());  // picks the port the broker comes back on
  ASSERT_OK(broker.Stop());
  auto pub = MqttBus::Open(broker.MakeBusConfig(), "home-assistant");
  ASSERT_OK(pub);
  Config config;
  HomeAssistantDiscovery ha(config, pub->get(), faces_.get(), nullptr, 100ms);
  ASSERT_OK(ha.Start({"front door"}));
  EXPECT_EQ(ha.pending(), 3u) << "two people and a camera wait for the broker";

  // While it is down Ana arrives and Bo is forgotten: only the latest counts.
  SightingRecord known;
  known.id = "s1";
  known.camera = "front door";
  known.decision = Decision::kKnown;
  known.person_id = "ana";
  ASSERT_OK(ha.HandleEvent(SightingEvent{SightingEvent::Kind::kDecided, known}));
  ha.PersonForgotten("bo", {});

  ASSERT_OK(broker.Start());
  ASSERT_TRUE(Eventually([&] { return ha.pending() == 0; }, 60s)) << ha.pending();
  ASSERT_OK((*pub)->Flush(30s));
  Retained seen;
  auto home_assistant = Subscribe(broker, "ha", &seen);
  ASSERT_NE(home_assistant, nullptr);
  ASSERT_TRUE(Eventually([&] {
    return seen.Has(kAnaConfig) && seen.Has(kDoorConfig) &&
           seen.Get("concierge/ha/person/ana/presence") == "ON";
  }));
  EXPECT_FALSE(seen.Has(kBoConfig)) << "a person forgotten while the broker was down came back";
}

// `concierge run` with notify.home_assistant: it announces its people and
// cameras once the broker is up, marks a person present when their photo
// lands in the drop folder, and removes them when they are forgotten via the API.
TEST(HomeAssistantRunTest, RunAnnouncesPeopleAndCamerasAndRetractsTheForgotten) {
  REQUIRE_TEST_DATA();
  REQUIRE_MOSQUITTO();
  namespace fs = std::filesystem;
  testing::TempDir dir;
  const std::string photo =
      testing::DataPath("enroll/face_recognition/examples/lin-manuel-miranda.png");
  const auto enrolled =
      testing::RunCommand({testing::BinaryPath(), "--data-dir", dir.path(), "--log-level",
                           "error", "enroll", "--largest", "--person", "lin-manuel", photo});
  ASSERT_EQ(enrolled.exit_code, 0) << enrolled.err;
  std::string token;
  {
    auto db = Database::OpenSqlite(dir.Sub("concierge.db"), 5000);
    ASSERT_OK(db);
    auto accounts = NewSqliteAccountStore(db->get());
    Authenticator auth(accounts.get(), AuthConfig{});
    ASSERT_OK(auth.AddUser("boss", "boss-password", Role::kAdmin));
    auto created = auth.CreateToken("ha-test", "boss");
    ASSERT_OK(created);
    token = created->token;
  }
  MosquittoBroker broker;
  ASSERT_OK(broker.Start());
  ASSERT_OK(broker.Stop());  // down when `run` starts
  const fs::path inbox = fs::path(dir.path()) / "door";
  fs::create_directories(inbox);
  std::ofstream(dir.Sub("config.json")) << nlohmann::json{
      {"bus", {{"mqtt", {{"port", broker.port()}}}}},
      {"notify", {{"home_assistant", true}}},
      {"edge", {{"cameras", {{{"name", "front_door"}, {"source", inbox.string()}}}}}}};
  testing::ChildProcess run;
  ASSERT_TRUE(run.Start({testing::BinaryPath(), "--data-dir", dir.path(), "run"},
                        {"CONCIERGE_HTTP_PORT=0", "CONCIERGE_HTTP_BIND=127.0.0.1"},
                        dir.Sub("run.log")));
  ASSERT_TRUE(run.WaitForLog("http: serving url=", 120s)) << run.Log();
  std::smatch port;
  const std::string log = run.Log();
  ASSERT_TRUE(std::regex_search(log, port, std::regex(R"(serving url=http://127\.0\.0\.1:(\d+))")));

  ASSERT_OK(broker.Start());
  Retained seen;
  auto home_assistant = Subscribe(broker, "ha", &seen);
  ASSERT_NE(home_assistant, nullptr);
  constexpr char kLinConfig[] = "homeassistant/binary_sensor/concierge/lin-manuel_presence/config";
  ASSERT_TRUE(Eventually([&] { return seen.Has(kLinConfig) && seen.Has(kDoorConfig); }, 120s))
      << run.Log();
  EXPECT_EQ(json::parse(seen.Get(kLinConfig))["state_topic"],
            "concierge/ha/person/lin-manuel/presence");

  fs::copy_file(photo, inbox / "arrival.png");
  ASSERT_TRUE(Eventually(
      [&] { return seen.Get("concierge/ha/person/lin-manuel/presence") == "ON"; }, 120s))
      << run.Log();

  httplib::Client api("127.0.0.1", std::stoi(port[1]));
  api.set_read_timeout(60, 0);
  const auto forgotten = api.Post("/api/v1/people/lin-manuel/forget",
                                  {{"Authorization", "Bearer " + token}}, "", "application/json");
  ASSERT_TRUE(forgotten);
  ASSERT_EQ(forgotten->status, 200) << forgotten->body;
  ASSERT_TRUE(Eventually([&] { return seen.Get(kLinConfig).empty(); }, 60s)) << run.Log();

  run.Signal(SIGTERM);
  EXPECT_EQ(run.Wait(60s), 0) << run.Log();
}

TEST(HomeAssistantObjectIdTest, KeepsOnlySafeCharacters) {
  EXPECT_EQ(HomeAssistantObjectId("front door/2"), "front_door_2");
  EXPECT_EQ(HomeAssistantObjectId("ana-b_1"), "ana-b_1");
}

}  // namespace
}  // namespace concierge
