// The chat-ops loop end to end in one process: real face crops go through the
// server (ingest, recognise, visits) on an in-process bus, the notifier posts
// to a fake Slack, and signed block_actions from the fake come back through an
// httplib server into SlackInteractions and the Trainer.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "notify/notifier.h"
#include "notify/slack_interactions.h"
#include "pipeline/train.h"
#include "store/audit_log.h"
#include "store/stranger_clusters.h"
#include "support/fake_slack.h"
#include "support/faulty_object_store.h"
#include "support/models.h"
#include "support/notifier_parts.h"
#include "support/test_env.h"

namespace concierge {
namespace {

using namespace std::chrono_literals;
using testing::Eventually;
using testing::FakeSlack;
using testing::MessagesContaining;

const char* kColin = "lfw/images/Colin_Powell/Colin_Powell_0038.jpg";
const char* kColinAgain = "lfw/images/Colin_Powell/Colin_Powell_0040.jpg";
const char* kStranger = "lfw/images/Tony_Blair/Tony_Blair_0006.jpg";
const char* kSecret = "8f742231b10e8888abcd99yyyzzz85a5";

class ChatOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TEST_DATA();
    setenv("TZ", "UTC", 1);
    tzset();
    config_ = testing::NotifierTestConfig(dir_.path(), slack_);
    config_.notify.slack_signing_secret = kSecret;
    ASSERT_OK(pipeline_.Open());
    interactions_ = std::make_unique<SlackInteractions>(kSecret, pipeline_.trainer.get());
    http_.Post("/slack/interactive", [this](const httplib::Request& req, httplib::Response& res) {
      const InteractionReply r = interactions_->Handle(
          req.get_header_value("X-Slack-Request-Timestamp"),
          req.get_header_value("X-Slack-Signature"), req.body);
      res.status = r.status;
      res.set_content(r.body, r.content_type);
    });
    port_ = http_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    http_thread_ = std::thread([this] { http_.listen_after_bind(); });
  }

  void TearDown() override {
    pipeline_.Stop();
    http_.stop();
    if (http_thread_.joinable()) http_thread_.join();
  }

  // The clusters of two photos of Colin seen three hours apart, and the later sighting.
  struct TwoStrangers {
    int64_t first_cluster = 0;
    int64_t second_cluster = 0;
    std::string second_sighting;
  };

  // Starts the pipeline with a clustering strict enough (and a Trainer and
  // Slack endpoint on it) that two photos of Colin stay two strangers, shows
  // it both, and checks that each was asked about.
  void SeeColinAsTwoStrangers(TwoStrangers* seen) {
    stores().clusters = NewSqliteStrangerClusters(stores().db.get(), 0.99f, 3600000);
    pipeline_.trainer =
        std::make_unique<Trainer>(config_.quality, ImageLimits{}, pipeline_.ForTrainer());
    interactions_ = std::make_unique<SlackInteractions>(kSecret, pipeline_.trainer.get());
    pipeline_.Start();
    const int64_t t0 = NowMs() - 6 * 3600000;
    const std::string first = pipeline_.See(kColin, t0);
    const std::string second = pipeline_.See(kColinAgain, t0 + 3 * 3600000);
    pipeline_.Settle();
    ASSERT_EQ(MessagesContaining(slack_, "I don't know who this is").size(), 2u);
    auto a = stores().clusters->ClusterOf(first);
    auto b = stores().clusters->ClusterOf(second);
    ASSERT_TRUE(a.ok() && *a && b.ok() && *b);
    *seen = {**a, **b, second};
  }

  void Enroll(const std::string& person, const std::string& external_id,
              const std::string& photo) {
    testing::EnrollPhoto(*stores().faces, config_.vision, person, external_id, photo);
  }

  // Clicks as `user` on the message `m` and returns the endpoint's HTTP status.
  int Click(const std::string& user, const testing::FakeSlackMessage& m,
            const nlohmann::json& action) {
    auto reply = FakeSlack::PostInteractive(
        "http://127.0.0.1:" + std::to_string(port_) + "/slack/interactive", kSecret,
        slack_.BlockActionsPayload(user, m.channel, m.ts, action));
    EXPECT_TRUE(reply.ok()) << reply.status().ToString();
    return reply.ok() ? reply->status : 0;
  }

  int64_t OnlyCluster() {
    auto page = stores().clusters->List(std::nullopt, 10);
    EXPECT_TRUE(page.ok());
    EXPECT_EQ(page.ok() ? page->items.size() : 0u, 1u);
    return page.ok() && !page->items.empty() ? page->items[0].id : 0;
  }

  std::vector<AuditEntry> Audit() {
    auto page = stores().audit->List(100);
    EXPECT_TRUE(page.ok());
    return page.ok() ? page->items : std::vector<AuditEntry>{};
  }

  testing::NotifierStores& stores() { return pipeline_.stores; }

  testing::TempDir dir_;
  FakeSlack slack_;
  Config config_;
  testing::OneProcessPipeline pipeline_{config_};
  std::unique_ptr<SlackInteractions> interactions_;
  httplib::Server http_;
  int port_ = 0;
  std::thread http_thread_;
};

TEST_F(ChatOpsTest, AKnownVisitProducesExactlyOneGreetingAcrossManySightings) {
  Enroll("colin", "U0ALICE", kColin);
  pipeline_.Start();
  const int64_t t0 = NowMs() - 60000;
  for (int i = 0; i < 6; ++i) pipeline_.See(i % 2 ? kColin : kColinAgain, t0 + i * 5000);
  pipeline_.Settle();
  const auto greetings = MessagesContaining(slack_, "Welcome in, <@U0ALICE>!");
  ASSERT_EQ(greetings.size(), 1u);
  EXPECT_EQ(slack_.Messages().size(), 1u);
  const std::string blocks = greetings[0].blocks.dump();
  EXPECT_NE(blocks.find("\"not_me\""), std::string::npos);
  EXPECT_NE(blocks.find("slack_file"), std::string::npos) << "the crop is attached";
  EXPECT_EQ(slack_.Files().size(), 1u);
}

TEST_F(ChatOpsTest, PeopleArrivingTogetherGetOneGreetingNamingEveryone) {
  config_.notify.group_greeting_s = 10;
  Enroll("colin", "U0ALICE", kColin);
  Enroll("tony", "U0BOB", kStranger);
  pipeline_.Start();
  const int64_t t0 = NowMs() - 600000;
  const std::string colin = pipeline_.See(kColin, t0);
  ASSERT_OK(pipeline_.bus->Flush(60s));
  ASSERT_TRUE(Eventually([&] { return !MessagesContaining(slack_, "Welcome in").empty(); }));
  const std::string tony = pipeline_.See(kStranger, t0 + 4000);  // 4 s later: the same group
  pipeline_.Settle();
  ASSERT_EQ(slack_.Messages().size(), 1u) << "one message for the two of them";
  const auto group = MessagesContaining(slack_, "Welcome in, <@U0ALICE> and <@U0BOB>!");
  ASSERT_EQ(group.size(), 1u) << slack_.Messages()[0].text;
  EXPECT_EQ(group[0].edits, 1);
  const std::string blocks = group[0].blocks.dump();
  EXPECT_NE(blocks.find("sighting:" + colin), std::string::npos);
  EXPECT_NE(blocks.find("sighting:" + tony), std::string::npos);
  EXPECT_NE(blocks.find("Not tony"), std::string::npos) << blocks;

  // Tony's "Not me" takes him out of the greeting; Colin stays greeted.
  EXPECT_EQ(Click("U0BOB", group[0],
                  FakeSlack::ButtonAction("sighting:" + tony, kActionNotMe, tony, "Not tony")),
            200);
  EXPECT_EQ(pipeline_.Record(tony).decision, Decision::kUnknown);
  EXPECT_EQ(pipeline_.Record(colin).person_id.value_or(""), "colin");
  ASSERT_TRUE(Eventually([&] {
    const auto now = slack_.Messages();
    return now.size() == 1u && now[0].text.find("Welcome in, <@U0ALICE>!") == 0 &&
           now[0].blocks.dump().find("Not <@U0BOB>") != std::string::npos;
  })) << slack_.Messages()[0].text << slack_.Messages()[0].blocks.dump();
}

TEST_F(ChatOpsTest, PersonPreferencesMuteGreetingsTellTheHostAndAlertWhoAskedForStrangers) {
  config_.notify.group_greeting_s = 0;
  Enroll("colin", "U0ALICE", kColin);
  ASSERT_OK(stores().faces->AddPerson({"ana", "Ana", "U0BOB", 0}));  // no face: only a host
  PersonPreferences guest;
  guest.greeting = PersonPreferences::Greeting::kMuted;
  guest.host = "ana";
  ASSERT_OK(stores().faces->SetPreferences("colin", guest));
  PersonPreferences host;
  host.alerts = PersonPreferences::Alerts::kStrangers;
  ASSERT_OK(stores().faces->SetPreferences("ana", host));
  EXPECT_EQ(stores().faces->SetPreferences("ana", {.host = "ana"}).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(stores().faces->SetPreferences("ana", {.host = "ghost"}).code(),
            Status::Code::kNotFound);

  pipeline_.Start();
  const int64_t t0 = NowMs() - 600000;
  pipeline_.See(kColin, t0);
  pipeline_.See(kStranger, t0 + 60000);
  pipeline_.Settle();
  EXPECT_TRUE(MessagesContaining(slack_, "Welcome").empty()) << "colin's greetings are muted";
  ASSERT_EQ(MessagesContaining(slack_, "I don't know who this is").size(), 1u);
  std::vector<std::string> direct;
  for (const auto& m : slack_.Messages())
    if (m.channel == "D0BOB") direct.push_back(m.text);
  ASSERT_EQ(direct.size(), 2u);
  std::sort(direct.begin(), direct.end());  // the two sightings are decided in either order
  EXPECT_EQ(direct[0].find(":eyes: Someone I don't know is at door (office)"), 0u) << direct[0];
  EXPECT_EQ(direct[1].find(":wave: colin has arrived at door (office)"), 0u) << direct[1];
  EXPECT_EQ(slack_.Messages().size(), 3u);
}

TEST_F(ChatOpsTest, ArrivalsFurtherApartThanTheGroupWindowAreGreetedApart) {
  config_.notify.group_greeting_s = 10;
  Enroll("colin", "U0ALICE", kColin);
  Enroll("tony", "U0BOB", kStranger);
  pipeline_.Start();
  const int64_t t0 = NowMs() - 600000;
  pipeline_.See(kColin, t0);
  pipeline_.See(kStranger, t0 + 30000);
  pipeline_.Settle();
  EXPECT_EQ(MessagesContaining(slack_, "Welcome in, <@U0ALICE>!").size(), 1u);
  EXPECT_EQ(MessagesContaining(slack_, "Welcome in, <@U0BOB>!").size(), 1u);
  EXPECT_EQ(slack_.Messages().size(), 2u);
}

TEST_F(ChatOpsTest, EnrollingAPersonAnswersTheirOpenQuestionAndRelabelsTheirSightings) {
  pipeline_.Start();
  const std::string seen = pipeline_.See(kStranger, NowMs() - 600000);
  pipeline_.Settle();
  ASSERT_EQ(MessagesContaining(slack_, "I don't know who this is").size(), 1u);
  const int64_t cluster = OnlyCluster();

  Enroll("tony", "U0BOB", kStranger);
  auto resolved =
      pipeline_.trainer->ResolveOpenStrangers("tony", {"user:admin", "enroll", "person:tony"});
  ASSERT_OK(resolved);
  EXPECT_EQ(*resolved, std::vector<int64_t>{cluster});
  EXPECT_EQ(pipeline_.Record(seen).decision, Decision::kKnown);
  EXPECT_EQ(pipeline_.Record(seen).person_id.value_or(""), "tony");
  EXPECT_EQ(pipeline_.Record(seen).image_key.rfind("known/tony/", 0), 0u)
      << pipeline_.Record(seen).image_key;
  ASSERT_TRUE(Eventually(
      [&] { return MessagesContaining(slack_, "Resolved: this was <@U0BOB>").size() == 1u; }))
      << slack_.Messages()[0].text;
  EXPECT_EQ(slack_.Messages().size(), 1u) << "the question was updated, not asked again";
  bool audited = false;
  for (const auto& e : Audit())
    audited |= e.action == "tag" && e.actor == "concierge" &&
               e.detail["because"] == nlohmann::json({{"actor", "user:admin"},
                                                      {"action", "enroll"},
                                                      {"target", "person:tony"}});
  EXPECT_TRUE(audited);
  // Asking again changes nothing.
  auto again =
      pipeline_.trainer->ResolveOpenStrangers("tony", {"user:admin", "enroll", "person:tony"});
  ASSERT_OK(again);
  EXPECT_TRUE(again->empty());
}

TEST_F(ChatOpsTest, TaggingOneStrangerAnswersTheOtherQuestionsAboutThem) {
  TwoStrangers colin;
  ASSERT_NO_FATAL_FAILURE(SeeColinAsTwoStrangers(&colin));
  ASSERT_NE(colin.first_cluster, colin.second_cluster);

  auto tagged = pipeline_.trainer->TagCluster(colin.first_cluster, {.display_name = "Colin"},
                                              "slack:U0BOB");
  ASSERT_OK(tagged);
  EXPECT_EQ(tagged->also_resolved, std::vector<int64_t>{colin.second_cluster});
  EXPECT_EQ(pipeline_.Record(colin.second_sighting).person_id.value_or(""), tagged->person_id);
  ASSERT_TRUE(Eventually([&] {
    return MessagesContaining(slack_, "Trained as Colin by <@U0BOB>").size() == 1u &&
           MessagesContaining(slack_, "Resolved: this was Colin").size() == 1u;
  }));
}

TEST_F(ChatOpsTest, MergedQuestionsBecomeOneAndASplitAsksAboutTheOtherPerson) {
  TwoStrangers colin;
  ASSERT_NO_FATAL_FAILURE(SeeColinAsTwoStrangers(&colin));

  auto merged =
      pipeline_.trainer->MergeClusters(colin.first_cluster, {colin.second_cluster}, "user:ana");
  ASSERT_OK(merged);
  EXPECT_EQ(merged->sightings, 2);
  ASSERT_TRUE(Eventually([&] {
    const auto open = MessagesContaining(slack_, "I don't know who this is");
    // The web user by name, not as the raw actor "user:ana".
    const auto merged = MessagesContaining(slack_, "says this is the same person as in another");
    return open.size() == 1u &&
           open[0].blocks.dump().find("2 in all") != std::string::npos && merged.size() == 1u &&
           merged[0].text.rfind("ana says", 0) == 0;
  })) << slack_.Messages().size() << " messages";

  auto created =
      pipeline_.trainer->SplitCluster(colin.first_cluster, {colin.second_sighting}, "user:ana");
  ASSERT_OK(created);
  ASSERT_TRUE(Eventually([&] {
    return MessagesContaining(slack_, "I don't know who this is").size() == 2u;
  }));
  EXPECT_EQ(slack_.Calls("chat.postMessage").size(), 3u);  // two questions, then the split one
  std::vector<std::string> actions;
  for (const AuditEntry& e : Audit()) actions.push_back(e.action);
  EXPECT_NE(std::find(actions.begin(), actions.end(), "cluster.merge"), actions.end());
  EXPECT_NE(std::find(actions.begin(), actions.end(), "cluster.split"), actions.end());
}

TEST_F(ChatOpsTest, AStrangerSeenFiveTimesProducesOneQuestionUpdated) {
  pipeline_.Start();
  const int64_t t0 = NowMs() - 60000;
  for (int i = 0; i < 5; ++i) pipeline_.See(kStranger, t0 + i * 1000);
  pipeline_.Settle();
  const auto questions = MessagesContaining(slack_, "I don't know who this is");
  ASSERT_EQ(questions.size(), 1u);
  EXPECT_EQ(slack_.Calls("chat.postMessage").size(), 1u);
  EXPECT_GE(questions[0].edits, 1);
  const std::string blocks = questions[0].blocks.dump();
  EXPECT_NE(blocks.find("Seen 5 times today"), std::string::npos) << blocks;
  EXPECT_NE(blocks.find("users_select"), std::string::npos);
  EXPECT_NE(blocks.find("\"confirm\""), std::string::npos);
  EXPECT_NE(blocks.find("plain_text_input"), std::string::npos);
  auto cluster = stores().clusters->Get(OnlyCluster());
  ASSERT_TRUE(cluster.ok());
  EXPECT_EQ(cluster->sightings, 5);
}

TEST_F(ChatOpsTest, TagThenANewSightingOfThatPersonProducesAGreeting) {
  pipeline_.Start();
  const std::string first = pipeline_.See(kStranger, NowMs() - 600000);
  pipeline_.Settle();
  const auto questions = MessagesContaining(slack_, "I don't know who this is");
  ASSERT_EQ(questions.size(), 1u);
  const int64_t cluster = OnlyCluster();
  const auto pick = FakeSlack::UsersSelectAction("cluster:" + std::to_string(cluster),
                                                 kActionTagUser, "U0ALICE");
  EXPECT_EQ(Click("U0BOB", questions[0], pick), 200);
  // A second click (a new request: Slack stamps each action) does not index twice.
  nlohmann::json again_pick = pick;
  again_pick["action_ts"] = "1700000002.000400";
  EXPECT_EQ(Click("U0BOB", questions[0], again_pick), 200);
  auto alice = stores().faces->FindByExternalId("U0ALICE");
  ASSERT_TRUE(alice.ok()) << "the person is created from users.info";
  EXPECT_EQ(alice->display_name, "Alice Liddell") << "named by the profile's real name";
  auto faces = stores().faces->ListFaces(alice->id);
  ASSERT_TRUE(faces.ok());
  ASSERT_EQ(faces->size(), 1u);
  // The tagged face joins the gallery as such, with its own picture.
  EXPECT_EQ(faces->front().origin, FaceOrigin::kTagged);
  EXPECT_EQ(faces->front().sighting_id, first);
  EXPECT_EQ(faces->front().image_key.rfind("faces/" + alice->id + "/", 0), 0u);
  const SightingRecord tagged = pipeline_.Record(first);
  EXPECT_EQ(tagged.decision, Decision::kKnown);
  EXPECT_EQ(tagged.image_key.rfind("known/" + alice->id + "/", 0), 0u) << tagged.image_key;
  auto moved = stores().objects->Exists(tagged.image_key);
  EXPECT_TRUE(moved.ok() && *moved);
  int tags = 0;
  for (const auto& e : Audit()) tags += e.action == "tag" && e.actor == "slack:U0BOB";
  EXPECT_EQ(tags, 1);

  // The question now says who it was; then the same face arrives again.
  ASSERT_TRUE(Eventually([&] {
    return !MessagesContaining(slack_, "Trained as <@U0ALICE> by <@U0BOB>").empty();
  }));
  pipeline_.Stop();
  pipeline_.Start();
  const std::string again = pipeline_.See(kStranger, NowMs());
  pipeline_.Settle();
  EXPECT_EQ(pipeline_.Record(again).person_id.value_or(""), alice->id);
  EXPECT_EQ(MessagesContaining(slack_, "Welcome in, <@U0ALICE>!").size(), 1u);
}

TEST_F(ChatOpsTest, IgnoreDeletesTheFiles) {
  pipeline_.Start();
  const int64_t t0 = NowMs() - 60000;
  const std::string a = pipeline_.See(kStranger, t0);
  const std::string b = pipeline_.See(kStranger, t0 + 1000);
  pipeline_.Settle();
  const std::string key_a = pipeline_.Record(a).image_key, key_b = pipeline_.Record(b).image_key;
  ASSERT_FALSE(key_a.empty());
  const auto questions = MessagesContaining(slack_, "I don't know who this is");
  ASSERT_EQ(questions.size(), 1u);
  const int64_t cluster = OnlyCluster();
  EXPECT_EQ(Click("U0BOB", questions[0],
                  FakeSlack::ButtonAction("cluster:" + std::to_string(cluster), kActionIgnore,
                                          std::to_string(cluster), "Ignore")),
            200);
  for (const std::string& key : {key_a, key_b}) {
    auto there = stores().objects->Exists(key);
    ASSERT_TRUE(there.ok());
    EXPECT_FALSE(*there) << key;
  }
  EXPECT_EQ(pipeline_.Record(a).image_key, "");
  auto c = stores().clusters->Get(cluster);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->state, ClusterState::kIgnored);
  EXPECT_EQ(c->resolved_by, "slack:U0BOB");
  ASSERT_TRUE(
      Eventually([&] { return !MessagesContaining(slack_, "Ignored by <@U0BOB>").empty(); }));
  auto unknown = stores().objects->List("unknown/");
  ASSERT_TRUE(unknown.ok());
  EXPECT_TRUE(unknown->empty());
}

TEST_F(ChatOpsTest, NotMeStopsTheWrongMatch) {
  // The stranger is enrolled as someone they are not: a wrong match.
  Enroll("colin", "U0ALICE", kStranger);
  pipeline_.Start();
  const std::string wrong = pipeline_.See(kStranger, NowMs() - 600000);
  pipeline_.Settle();
  ASSERT_EQ(pipeline_.Record(wrong).person_id.value_or(""), "colin");
  const auto greetings = MessagesContaining(slack_, "Welcome in, <@U0ALICE>!");
  ASSERT_EQ(greetings.size(), 1u);
  EXPECT_EQ(Click("U0ALICE", greetings[0],
                  FakeSlack::ButtonAction("sighting:" + wrong, kActionNotMe, wrong, "Not me")),
            200);
  const SightingRecord disowned = pipeline_.Record(wrong);
  EXPECT_EQ(disowned.decision, Decision::kUnknown);
  EXPECT_FALSE(disowned.person_id.has_value());
  EXPECT_EQ(disowned.image_key.rfind("unknown/", 0), 0u) << disowned.image_key;
  EXPECT_EQ(stores().faces->negative_count(), 1u);
  ASSERT_TRUE(Eventually([&] { return !MessagesContaining(slack_, "says this was not").empty(); }));
  // The same face no longer matches that person.
  EXPECT_TRUE(stores().faces->Search({{testing::ModelSpaces().front().model, disowned.embedding}},
                                     1, SearchMode::kCentroid)
                  .empty());
  bool audited = false;
  for (const auto& e : Audit()) audited |= e.action == "not_me" && e.target == "sighting:" + wrong;
  EXPECT_TRUE(audited);
}

TEST_F(ChatOpsTest, OnlyThePersonGreetedOrAnAdminMaySayNotMe) {
  Enroll("colin", "U0ALICE", kStranger);
  pipeline_.Start();
  const std::string seen = pipeline_.See(kStranger, NowMs() - 600000);
  pipeline_.Settle();
  const auto greetings = MessagesContaining(slack_, "Welcome in, <@U0ALICE>!");
  ASSERT_EQ(greetings.size(), 1u);
  const nlohmann::json not_me =
      FakeSlack::ButtonAction("sighting:" + seen, kActionNotMe, seen, "Not me");
  // Bob is neither Alice nor an admin: refused, nothing changes.
  EXPECT_EQ(Click("U0BOB", greetings[0], not_me), 200);
  EXPECT_EQ(pipeline_.Record(seen).person_id.value_or(""), "colin");
  EXPECT_EQ(stores().faces->negative_count(), 0u);
  for (const auto& e : Audit()) EXPECT_NE(e.action, "not_me") << e.actor;
  // Ada administers the workspace: she may.
  EXPECT_EQ(Click("U0ADA", greetings[0], not_me), 200);
  EXPECT_EQ(pipeline_.Record(seen).decision, Decision::kUnknown);
  bool audited = false;
  for (const auto& e : Audit()) audited |= e.action == "not_me" && e.actor == "slack:U0ADA";
  EXPECT_TRUE(audited);
}

TEST_F(ChatOpsTest, ForgedStaleAndReplayedRequestsAreRejectedAndChangeNothing) {
  pipeline_.Start();
  pipeline_.See(kStranger, NowMs() - 60000);
  pipeline_.Settle();
  const auto questions = MessagesContaining(slack_, "I don't know who this is");
  ASSERT_EQ(questions.size(), 1u);
  const int64_t cluster = OnlyCluster();
  const nlohmann::json payload = slack_.BlockActionsPayload(
      "U0BOB", questions[0].channel, questions[0].ts,
      FakeSlack::UsersSelectAction("cluster:" + std::to_string(cluster), kActionTagUser,
                                   "U0ALICE"));
  const std::string url = "http://127.0.0.1:" + std::to_string(port_) + "/slack/interactive";
  auto forged = FakeSlack::PostInteractive(url, "not-the-secret", payload);
  ASSERT_TRUE(forged.ok());
  EXPECT_EQ(forged->status, 401);
  auto stale = FakeSlack::PostInteractive(url, kSecret, payload, NowMs() / 1000 - 301);
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(stale->status, 401);
  // A captured valid request, sent twice: only the first counts.
  const int64_t ts = NowMs() / 1000;
  const std::string body = FormEncode({{"payload", payload.dump()}});
  const std::vector<std::string> headers = {
      "Content-Type: application/x-www-form-urlencoded",
      "X-Slack-Request-Timestamp: " + std::to_string(ts),
      "X-Slack-Signature: " + SignSlackRequest(kSecret, ts, body)};
  // The rejected requests changed nothing.
  auto c = stores().clusters->Get(cluster);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->state, ClusterState::kOpen);
  EXPECT_TRUE(Audit().empty());
  auto valid = HttpPost(url, headers, body, 5000);
  ASSERT_TRUE(valid.ok());
  EXPECT_EQ(valid->status, 200);
  auto replayed = HttpPost(url, headers, body, 5000);
  ASSERT_TRUE(replayed.ok());
  EXPECT_EQ(replayed->status, 401);
  EXPECT_EQ(Audit().size(), 1u);
}

TEST_F(ChatOpsTest, ForgetLeavesNothingOfThePersonInTheDatabaseOrTheObjectStore) {
  pipeline_.Start();
  const int64_t t0 = NowMs() - 600000;
  pipeline_.See(kStranger, t0);
  pipeline_.See(kStranger, t0 + 1000);
  pipeline_.Settle();
  const auto questions = MessagesContaining(slack_, "I don't know who this is");
  ASSERT_EQ(questions.size(), 1u);
  const int64_t cluster = OnlyCluster();
  EXPECT_EQ(Click("U0BOB", questions[0],
                  FakeSlack::UsersSelectAction("cluster:" + std::to_string(cluster),
                                               kActionTagUser, "U0ALICE")),
            200);
  auto alice = stores().faces->FindByExternalId("U0ALICE");
  ASSERT_TRUE(alice.ok());
  ASSERT_TRUE(pipeline_.notifier->outbox().WaitUntilIdle(30000));
  // A not-me'd sighting leaves a negative for the person too.
  auto known = stores().sightings->List({.limit = 0, .person_id = alice->id});
  ASSERT_TRUE(known.ok() && known->size() == 2u);
  ASSERT_OK(pipeline_.trainer->NotMe((*known)[0].id, "cli"));
  ASSERT_EQ(stores().faces->negative_count(), 1u);

  auto forgotten = pipeline_.trainer->ForgetPerson(alice->id, "user:admin");
  ASSERT_TRUE(forgotten.ok()) << forgotten.status().ToString();
  EXPECT_GE(forgotten->faces, 1);
  EXPECT_EQ(forgotten->sightings, 1);
  EXPECT_GE(forgotten->images, 1);

  const std::string id = alice->id;
  auto count = [&](const std::string& sql) -> int64_t {
    return stores().db->WithConnection([&](Connection& conn) -> int64_t {
      auto stmt = conn.Prepare(sql);
      EXPECT_TRUE(stmt.ok()) << sql;
      if (!stmt.ok()) return -1;
      stmt->BindText(id);
      auto row = stmt->Step();
      return row.ok() && *row ? stmt->ColumnInt(0) : -1;
    });
  };
  EXPECT_EQ(count("SELECT COUNT(*) FROM persons WHERE id = ?"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM faces WHERE person_id = ?"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM face_negatives WHERE person_id = ?"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM sightings WHERE person_id = ?"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM visits WHERE person_id = ?"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM stranger_clusters WHERE person_id = ?"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM notify_outbox WHERE payload LIKE '%' || ? || '%'"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM notify_outbox WHERE "
                  "json_extract(payload, '$.cluster_id') = " + std::to_string(cluster) +
                  " AND ? <> ''"),
            0);
  auto keys = stores().objects->List("known/" + id + "/");
  ASSERT_TRUE(keys.ok());
  EXPECT_TRUE(keys->empty());
  auto all = stores().objects->List("");
  ASSERT_TRUE(all.ok());
  for (const auto& key : *all) EXPECT_EQ(key.find(id), std::string::npos) << key;
  bool audited = false;
  for (const auto& e : Audit()) audited |= e.action == "forget" && e.actor == "user:admin";
  EXPECT_TRUE(audited);
}

// Tagging and "not me" copy each picture, relabel, then delete the old one:
// wherever a SIGKILL lands, every row names a picture that exists.
TEST_F(ChatOpsTest, EveryRowNamesAPictureThatExistsAtEveryStepOfATagAndANotMe) {
  pipeline_.Start();
  const int64_t t0 = NowMs() - 600000;
  const std::vector<std::string> ids = {pipeline_.See(kStranger, t0),
                                        pipeline_.See(kStranger, t0 + 1000)};
  pipeline_.Settle();
  const int64_t cluster = OnlyCluster();
  testing::FaultyObjectStore faulty(stores().objects.get());
  TrainerParts parts = pipeline_.ForTrainer();
  parts.objects = &faulty;
  Trainer trainer(config_.quality, ImageLimits{}, parts);
  // Runs `action` on another thread, checking the rows at each write it makes.
  const auto step_through = [&](const std::function<Status()>& action) {
    faulty.PauseAfterEachWrite(true);
    Status result = Status::Unavailable("not run");
    std::atomic<bool> done{false};
    std::thread worker([&] {
      result = action();
      done = true;
    });
    int steps = 0;
    const auto give_up = std::chrono::steady_clock::now() + 300s;
    while (!done && std::chrono::steady_clock::now() < give_up) {
      if (!faulty.WaitPaused(200ms)) continue;
      for (const std::string& id : ids) {
        const SightingRecord row = pipeline_.Record(id);
        auto there = stores().objects->Exists(row.image_key);
        EXPECT_TRUE(there.ok() && *there) << "after write " << steps << " sighting " << id << " names missing "
                            << row.image_key;
      }
      ++steps;
      faulty.Step();
    }
    faulty.PauseAfterEachWrite(false);
    worker.join();
    EXPECT_TRUE(result.ok()) << result.ToString();
    return steps;
  };

  const int tag_steps = step_through([&] {
    return trainer.TagCluster(cluster, PersonChoice{"", "Tony", ""}, "test").status();
  });
  EXPECT_GE(tag_steps, 4);  // two copies, two deletes (and the gallery face)
  for (const std::string& id : ids) EXPECT_EQ(pipeline_.Record(id).decision, Decision::kKnown);
  auto unknown = stores().objects->List("unknown/");
  ASSERT_TRUE(unknown.ok());
  EXPECT_TRUE(unknown->empty()) << "the old pictures are removed once relabelled";

  EXPECT_GE(step_through([&] { return trainer.NotMe(ids[0], "test"); }), 2);
  const SightingRecord disowned = pipeline_.Record(ids[0]);
  EXPECT_EQ(disowned.decision, Decision::kUnknown);
  auto known = stores().objects->List("known/");
  ASSERT_TRUE(known.ok());
  EXPECT_EQ(known->size(), 1u) << "only the other sighting's picture stays under known/";
}

}  // namespace
}  // namespace concierge
