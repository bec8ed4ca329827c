// Scale-out as it is deployed: `concierge serve` processes (as if on separate
// machines) share one PostgreSQL database, one object store and a mosquitto
// shared subscription. A person enrolled through the CLI into PostgreSQL is
// recognised by every server on the sightings each of them takes; a running
// server picks up a person enrolled by another process without a restart; and
// three servers fed by two edges, one server SIGKILLed mid-stream, record every
// sighting once and post every Slack message once.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "bus/mqtt_bus.h"
#include "http/auth.h"
#include "store/account_store.h"
#include "support/child_process.h"
#include "support/mosquitto_fixture.h"
#include "support/pg_fixture.h"
#include "store/outbox_store.h"
#include "support/fake_slack.h"
#include "support/s3_fixture.h"
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
  // database, objects and broker; `patch` (a JSON merge patch) adds to it.
  void WriteConfig(const std::string& name,
                   const nlohmann::json& patch = nlohmann::json::object()) {
    std::filesystem::create_directories(dir_.Sub(name));
    nlohmann::json config{
        {"database", {{"kind", "postgres"}, {"postgres_url", pg_.Url("concierge")}}},
        {"objects", {{"root", dir_.Sub("objects")}}},
        {"bus", {{"mqtt", {{"port", broker_.port()}}}}},
        {"serve", {{"workers", 1}, {"collection_refresh_ms", 200}, {"ingest_connections", 4}}}};
    config.merge_patch(patch);
    std::ofstream(dir_.Sub(name + "/config.json")) << config;
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
    return WaitDecided([&](const nlohmann::json& s) { return ids.count(s["id"]) > 0; },
                       ids.size());
  }

  // The same once `goal` sightings that `counts` are decided.
  std::map<std::string, nlohmann::json> WaitDecided(
      const std::function<bool(const nlohmann::json&)>& counts, size_t goal) {
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
          decided += counts(s) && s["decision"] != "pending";
        }
      }
      if (decided == goal) return by_id;
      if (decided != last_decided) {
        last_decided = decided;
        last_change = std::chrono::steady_clock::now();
      } else if (std::chrono::steady_clock::now() - last_change > 120s) {
        ADD_FAILURE() << decided << " of " << goal << " sightings decided";
        return by_id;
      }
      std::this_thread::sleep_for(200ms);
    }
  }

  // The port `server`'s log says it serves HTTP on (from byte `from` on), or 0.
  static int ServingPort(const ChildProcess& server, size_t from = 0) {
    const std::string needle = "http: serving url=http://127.0.0.1:";
    const std::string log = server.Log();
    const size_t at = log.find(needle, from);
    return at == std::string::npos ? 0 : std::atoi(log.c_str() + at + needle.size());
  }

  // The id of the person a listed sighting names, or "".
  static std::string PersonOf(const nlohmann::json& sighting) {
    return sighting["person"].is_object() ? sighting["person"]["id"].get<std::string>() : "";
  }

  // How many sightings `server` decided as `person` (per its log).
  static size_t DecidedAs(const ChildProcess& server, const std::string& person) {
    return Occurrences(server.Log(), "person=" + person + " ");
  }

  static size_t Occurrences(const std::string& text, const std::string& needle) {
    size_t count = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
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
    known += PersonOf(listed.at(id)) == "powell";
  }
  for (const auto& id : others) {
    ASSERT_TRUE(listed.count(id)) << id;
    EXPECT_NE(PersonOf(listed.at(id)), "powell") << listed.at(id).dump();
  }
  // Every photo above is recognised alone (identify); allow a rare miss on a crop.
  EXPECT_GE(known, powell.size() * 9 / 10);
  EXPECT_GE(DecidedAs(a, "powell"), 1u) << a.Log();
  EXPECT_GE(DecidedAs(b, "powell"), 1u) << b.Log();
  EXPECT_EQ(DecidedAs(a, "powell") + DecidedAs(b, "powell"), known);
  EXPECT_EQ(listed.size(), all.size()) << "a sighting was recorded twice or went astray";
}

TEST_F(ScaleOutTest, RunningServerSeesPeopleEnrolledAndForgottenElsewhere) {
  WriteConfig("a", {{"http", {{"port", 0}}}});  // the API too, Rekognition's included
  ChildProcess server;
  StartServer(server, "a");
  if (HasFatalFailure()) return;
  const std::string crop = testing::FaceCrop(std::string(kPowell) + kSightingPhotos[0]);

  const std::string before = Publish(crop);
  ASSERT_TRUE(publisher_->Flush(30s).ok());
  ASSERT_EQ(WaitDecided({before})[before]["decision"], "unknown") << server.Log();

  const size_t mark = server.Log().size();
  Enrol("powell", kEnrolPhotos);
  // The enrolment adds its faces one by one, then tags the open stranger it
  // now names (the sighting above) with that stranger's face too: wait for the
  // reload that saw the collection as the enrolment left it.
  const CommandResult people = Cli({"--json", "people", "list"});
  ASSERT_EQ(people.exit_code, 0) << people.err;
  const auto listed_people = nlohmann::json::parse(people.out)["people"];
  ASSERT_EQ(listed_people.size(), 1u) << people.out;
  EXPECT_GE(listed_people[0]["faces"].get<size_t>(), kEnrolPhotos.size()) << people.out;
  const std::string all_faces =
      "reloaded people=1 faces=" + listed_people[0]["faces"].dump();
  ASSERT_TRUE(server.WaitForLog(all_faces, 60s, mark)) << server.Log();
  const std::string after = Publish(crop);
  ASSERT_TRUE(publisher_->Flush(30s).ok());
  auto listed = WaitDecided({after});
  EXPECT_EQ(listed[after]["decision"], "known");
  EXPECT_EQ(PersonOf(listed[after]), "powell");

  const size_t forgotten_mark = server.Log().size();
  const CommandResult forget = Cli({"people", "forget", "powell"});
  ASSERT_EQ(forget.exit_code, 0) << forget.err;
  ASSERT_TRUE(server.WaitForLog("reloaded people=0 faces=0", 60s, forgotten_mark))
      << server.Log();
  const std::string gone = Publish(crop);
  ASSERT_TRUE(publisher_->Flush(30s).ok());
  EXPECT_EQ(WaitDecided({gone})[gone]["decision"], "unknown");
  // Everything the server keeps is in PostgreSQL: it made no SQLite file.
  EXPECT_NE(server.Log().find("http: serving"), std::string::npos) << server.Log();
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("a/concierge.db"))) << server.Log();
}

// Settings saved through one server's API are the database's: another server
// shows them at once as waiting for its restart, and applies them when it
// starts again; the secret among them stays in the first server's file.
TEST_F(ScaleOutTest, ASettingSavedOnOneServerIsEveryServersAfterItsRestart) {
  auto accounts = OpenPgAccountStore(pg_.Url("concierge"));
  ASSERT_TRUE(accounts.ok()) << accounts.status().ToString();
  Authenticator auth(accounts->get(), AuthConfig{});
  ASSERT_TRUE(auth.AddUser("ada", "admin-password-1", Role::kAdmin).ok());
  auto token = auth.CreateToken("settings", "ada");
  ASSERT_TRUE(token.ok());
  const httplib::Headers bearer = {{"Authorization", "Bearer " + token->token}};

  // Each serves HTTP on a free port (CONCIERGE_HTTP_PORT=0 in tests).
  ChildProcess a, b;
  StartServer(a, "a");
  StartServer(b, "b");
  if (HasFatalFailure()) return;
  httplib::Client on_a("127.0.0.1", ServingPort(a)), on_b("127.0.0.1", ServingPort(b));
  for (httplib::Client* client : {&on_a, &on_b}) client->set_read_timeout(30s);

  auto saved = on_a.Put("/api/v1/settings", bearer,
                        R"({"notify": {"greet_cooldown_min": 180, "slack_bot_token": "xoxb-a"}})",
                        "application/json");
  ASSERT_TRUE(saved) << httplib::to_string(saved.error()) << "\n" << a.Log();
  ASSERT_EQ(saved->status, 200) << saved->body;

  auto seen = on_b.Get("/api/v1/settings", bearer);
  ASSERT_TRUE(seen);
  ASSERT_EQ(seen->status, 200) << seen->body;
  const nlohmann::json shown = nlohmann::json::parse(seen->body);
  EXPECT_EQ(shown["settings"]["notify"]["greet_cooldown_min"], 180);
  EXPECT_EQ(shown["shared"], true);
  EXPECT_EQ(shown["restart_required"], nlohmann::json::array({"notify.greet_cooldown_min"}));
  EXPECT_EQ(shown["settings"]["notify"]["slack_bot_token"], "") << "a's secret is a's";
  const std::string a_file = testing::ReadFile(dir_.Sub("a/config.json"));
  EXPECT_NE(a_file.find("xoxb-a"), std::string::npos) << a_file;

  // b restarts through its API (`serve` starts itself again in place).
  const size_t mark = b.Log().size();
  auto restart = on_b.Post("/api/v1/restart", bearer, "", "application/json");
  ASSERT_TRUE(restart);
  ASSERT_EQ(restart->status, 202) << restart->body;
  ASSERT_TRUE(b.WaitForLog("serve: ready", 180s, mark)) << b.Log();
  EXPECT_NE(b.Log().find("settings: applied saved notify.greet_cooldown_min", mark),
            std::string::npos)
      << b.Log();
  httplib::Client on_new_b("127.0.0.1", ServingPort(b, mark));
  on_new_b.set_read_timeout(30s);
  std::string after;
  ASSERT_TRUE(testing::Eventually(
      [&] {
        auto r = on_new_b.Get("/api/v1/settings", bearer);
        if (r && r->status == 200) after = r->body;
        return !after.empty();
      },
      60s))
      << b.Log();
  EXPECT_EQ(nlohmann::json::parse(after)["restart_required"], nlohmann::json::array()) << after;
}

// Three servers and two edges on one PostgreSQL, one s3rver bucket, one broker
// and one (fake) Slack workspace. Server "a" is SIGKILLed while the edges'
// sightings are still being decided and is started again: every sighting the
// edges published is recorded once and decided, Powell is greeted once for his
// one visit, no notification is posted twice, and nothing is left pending.
TEST_F(ScaleOutTest, ThreeServersTwoEdgesOneKilledMidStreamPostEachMessageOnce) {
  REQUIRE_S3RVER();
  testing::S3rverServer s3;
  ASSERT_TRUE(s3.Start().ok()) << s3.Log();
  testing::FakeSlack slack;
  const ObjectStoreConfig objects = s3.MakeConfig("concierge-scaleout");
  const nlohmann::json shared = {
      {"objects",
       {{"kind", "s3"},
        {"s3_endpoint", objects.s3_endpoint},
        {"s3_bucket", objects.s3_bucket},
        {"s3_region", objects.s3_region},
        {"s3_access_key", objects.s3_access_key},
        {"s3_secret_key", objects.s3_secret_key}}},
      {"notify",
       {{"slack_api_url", slack.api_url()},
        {"slack_bot_token", slack.token()},
        {"slack_channel", "C0CONCIERGE"},
        // A killed server's claim passes to the others after this long.
        {"outbox_lease_s", 10}}}};
  for (const char* name : {"a", "b", "c", "cli"}) WriteConfig(name, shared);
  Enrol("powell", kEnrolPhotos);
  if (HasFatalFailure()) return;

  // Two drop folders, each filled before its edge starts: other photos of
  // Powell and one photo each of LFW people nobody enrolled, in turn.
  std::vector<std::string> powell;
  for (const auto& entry : std::filesystem::directory_iterator(testing::DataPath(kPowell)))
    powell.push_back(entry.path().filename().string());
  std::sort(powell.begin(), powell.end());
  std::erase_if(powell, [](const std::string& photo) {
    return std::find(kEnrolPhotos.begin(), kEnrolPhotos.end(), photo) != kEnrolPhotos.end();
  });
  ASSERT_GE(powell.size(), 12u);
  powell.resize(12);
  const std::vector<std::string> strangers = testing::LfwFaceCrops(12);
  ASSERT_EQ(strangers.size(), 12u);
  for (int edge = 0; edge < 2; ++edge) {
    const std::string inbox = dir_.Sub("edge" + std::to_string(edge) + "/inbox");
    std::filesystem::create_directories(inbox);
    WriteConfig("edge" + std::to_string(edge),
                {{"bus",
                  {{"kind", "mqtt"},
                   {"mqtt", {{"client_id", "concierge-edge-" + std::to_string(edge)}}}}}});
    for (size_t i = edge; i < strangers.size(); i += 2) {
      std::ofstream(inbox + "/" + std::to_string(i) + "-powell.jpg", std::ios::binary)
          << testing::FaceCrop(kPowell + powell[i]);
      std::ofstream(inbox + "/" + std::to_string(i) + "-stranger.jpg", std::ios::binary)
          << strangers[i];
    }
  }

  ChildProcess a, b, c;
  StartServer(a, "a");
  StartServer(b, "b");
  StartServer(c, "c");
  if (HasFatalFailure()) return;

  // The edges run to the end of their folders, drain their spools and exit.
  std::vector<CommandResult> edges(2);
  std::vector<std::jthread> edge_threads;
  for (int edge = 0; edge < 2; ++edge)
    edge_threads.emplace_back([&, edge] {
      const std::string name = "edge" + std::to_string(edge);
      edges[edge] = testing::RunCommand(
          {testing::BinaryPath(), "--data-dir", dir_.Sub(name), "--log-level", "warn", "--json",
           "edge", "--once", "--source", dir_.Sub(name + "/inbox"), "--camera",
           "door" + std::to_string(edge)});
    });

  // Kill "a" once it has decided two sightings, then start it again.
  const auto decided_by = [](const ChildProcess& server) {
    return Occurrences(server.Log(), " decision=");
  };
  ASSERT_EQ(a.WaitUntil([&] { return decided_by(a) >= 2; }, 300s),
            ChildProcess::Readiness::kReady)
      << a.Log();
  a.Kill();
  const size_t decided_by_a_before_kill = decided_by(a);
  const CommandResult at_kill = Cli({"sightings", "--json", "--limit", "0"});
  ASSERT_EQ(at_kill.exit_code, 0) << at_kill.err;
  const nlohmann::json listed_at_kill = nlohmann::json::parse(at_kill.out);
  size_t decided_at_kill = 0;
  for (const auto& sighting : listed_at_kill["sightings"])
    decided_at_kill += sighting["decision"] != "pending";
  StartServer(a, "a");
  for (auto& t : edge_threads) t.join();
  if (HasFatalFailure()) return;

  size_t published = 0;
  for (const CommandResult& edge : edges) {
    ASSERT_EQ(edge.exit_code, 0) << edge.err;
    const nlohmann::json summary = nlohmann::json::parse(edge.out);
    EXPECT_EQ(summary["spool_pending"], 0);
    for (const auto& camera : summary["cameras"]) published += camera["sightings"].get<size_t>();
  }
  ASSERT_GE(published, 20u) << edges[0].err << edges[1].err;

  // Every published sighting recorded once and decided.
  const auto listed = WaitDecided([](const nlohmann::json&) { return true; }, published);
  EXPECT_EQ(listed.size(), published) << "a sighting was recorded twice or went astray";
  EXPECT_GE(decided_at_kill, 2u);
  EXPECT_LT(decided_at_kill, published) << "the kill came after the stream had been decided";
  EXPECT_GE(decided_by_a_before_kill, 2u);
  EXPECT_GE(decided_by(b), 1u) << b.Log();
  EXPECT_GE(decided_by(c), 1u) << c.Log();
  size_t named_powell = 0;
  for (const auto& [id, sighting] : listed) named_powell += PersonOf(sighting) == "powell";
  EXPECT_GE(named_powell, powell.size() * 8 / 10);

  // Nothing left in the outbox: the killed server's claim went to another.
  auto outbox = OpenPgOutboxStore(pg_.Url("concierge"));
  ASSERT_TRUE(outbox.ok()) << outbox.status().ToString();
  std::map<OutboxState, int64_t> counts;
  const bool drained = testing::Eventually(
      [&] {
        auto now = (*outbox)->Counts();
        if (!now.ok()) return false;
        counts = *now;
        return counts[OutboxState::kPending] == 0 && counts[OutboxState::kSending] == 0;
      },
      180s);
  EXPECT_TRUE(drained) << "pending " << counts[OutboxState::kPending] << ", sending "
                       << counts[OutboxState::kSending];
  EXPECT_EQ(counts[OutboxState::kFailed], 0);

  // Each notification posted once: one Slack message per idempotency key.
  std::map<std::string, int> posts;
  std::map<std::string, int> by_kind;
  for (const auto& message : slack.Messages()) {
    const nlohmann::json& payload = message.metadata["event_payload"];
    ++posts[payload.value("idempotency_key", "")];
    ++by_kind[payload.value("kind", "")];
  }
  for (const auto& [key, times] : posts) EXPECT_EQ(times, 1) << key << " was posted " << times;
  EXPECT_EQ(by_kind["greeting"], 1) << "Powell's one visit is greeted once";
  EXPECT_GE(by_kind["unknown_face"], 1);
  for (const auto& [key, times] : posts) {
    auto row = (*outbox)->Find(key);
    ASSERT_TRUE(row.ok()) << key << ": " << row.status().ToString();
    EXPECT_EQ(row->state, OutboxState::kSent) << key;
  }
}

}  // namespace
}  // namespace concierge
