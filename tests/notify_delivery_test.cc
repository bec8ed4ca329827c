// The notifier's rules and delivery without the vision stages: decided
// sightings are recorded straight into the store (with a real face crop as
// their picture) and their events handed to the Notifier, which delivers to a
// fake Slack and, for MQTT events, a real mosquitto.
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bus/mqtt_bus.h"
#include "core/clock.h"
#include "notify/notifier.h"
#include "pipeline/ingest.h"
#include "support/fake_slack.h"
#include "support/mosquitto_fixture.h"
#include "support/notifier_parts.h"
#include "support/sighting_crops.h"
#include "support/test_env.h"
#include "support/sighting_records.h"

namespace concierge {
namespace {

using namespace std::chrono_literals;
using testing::Eventually;
using testing::FakeSlack;
using testing::MessagesContaining;

const char* kCrop = "lfw/images/Tony_Blair/Tony_Blair_0006.jpg";

FaceQuality Good() { return {100, 120, 0, 0, 120, 0.9f}; }
FaceQuality TooSmall() { return {20, 120, 0, 0, 120, 0.3f}; }

// A unit embedding pointing mostly along axis `axis` (distinct strangers are orthogonal).
Embedding Axis(int axis) {
  Embedding e(512, 0.f);
  e[static_cast<size_t>(axis)] = 1.f;
  return e;
}

// "p<i>", built without operator+ on a literal (GCC 12's -Wrestrict misfires on it).
std::string PersonId(int i) {
  std::string id = std::to_string(i);
  id.insert(id.begin(), 'p');
  return id;
}

// 12:00 UTC today, so office and quiet hours are predictable.
int64_t Noon() { return LocalDayStartMs(NowMs()) + 12 * 3600000LL; }

class NotifyDeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TEST_DATA();
    setenv("TZ", "UTC", 1);
    tzset();
    config_ = testing::NotifierTestConfig(dir_.path(), slack_);
    NotifyConfig& n = config_.notify;
    n.backoff_initial_ms = 10;
    n.backoff_max_ms = 100;
    n.max_retry_after_s = 0;  // take the 429s without waiting whole seconds
    n.outbox_max_attempts = 0;
    n.group_greeting_s = 0;  // one message per arrival here; grouping is notify_chatops_test's
    n.office_hours = "07:00-19:00";
    n.alert_channel = "C0ALERTS";
    slack_.AddChannel("C0ALERTS", "alerts");
    ASSERT_OK(stores_.Open(config_, 0.5f, 24 * 3600000LL));
    crop_ = testing::FaceCrop(kCrop);
  }

  void TearDown() override {
    if (notifier_) notifier_->Stop();
  }

  std::unique_ptr<Notifier> MakeNotifier(Bus* bus = nullptr, bool start = true) {
    auto n = Notifier::Create(config_, stores_.ForNotifier(nullptr, nullptr));
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    if (!n.ok()) return nullptr;
    if (start) (*n)->Start(bus);
    return std::move(*n);
  }

  // Records a decided sighting with its picture and hands its events to `n`.
  // person "" is a stranger. Starts a new visit.
  DecisionResult See(Notifier* n, const std::string& person, int64_t captured_ms,
                     const Embedding& embedding, FaceQuality quality = Good(),
                     float live = 0.9f) {
    const auto d = testing::RecordDecided(
        *stores_.sightings, *stores_.objects,
        {.id = "s" + std::to_string(++next_id_), .person = person, .captured_ms = captured_ms,
         .embedding = embedding, .quality = quality, .live_score = live, .picture = crop_});
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    if (!d.ok()) return {};
    Status st = n->HandleEvent(SightingEvent{SightingEvent::Kind::kDecided, d->sighting});
    EXPECT_TRUE(st.ok()) << st.ToString();
    st = n->HandleEvent(VisitEvent{VisitEvent::Kind::kStarted, *d->visit, d->sighting.id});
    EXPECT_TRUE(st.ok()) << st.ToString();
    return *d;
  }

  void AddPerson(const std::string& id, const std::string& external_id = "") {
    ASSERT_OK(stores_.faces->AddPerson({id, id, external_id, 0}));
  }

  testing::TempDir dir_;
  FakeSlack slack_;
  Config config_;
  testing::NotifierStores stores_;
  std::unique_ptr<Notifier> notifier_;
  std::string crop_;
  int next_id_ = 0;
};

TEST_F(NotifyDeliveryTest, A429StormAndAnOutageDuring50VisitsDeliverEveryMessageExactlyOnce) {
  notifier_ = MakeNotifier();
  slack_.RateLimitNext(40, 1);
  std::thread chaos([&] {
    EXPECT_TRUE(Eventually([&] { return slack_.Messages().size() >= 10; }));
    slack_.SetDown(true);
    std::this_thread::sleep_for(300ms);
    slack_.SetDown(false);
    EXPECT_TRUE(Eventually([&] { return slack_.Messages().size() >= 25; }));
    slack_.Close();
    std::this_thread::sleep_for(300ms);
    slack_.Reopen();
    slack_.RateLimitNext(20, 1);
  });
  const int64_t t0 = Noon();
  for (int i = 0; i < 50; ++i) {
    const std::string person = PersonId(i);
    AddPerson(person);
    See(notifier_.get(), person, t0 + i * 1000, Axis(i));
  }
  chaos.join();
  ASSERT_TRUE(notifier_->outbox().WaitUntilIdle(120000));
  std::map<std::string, int> posts;
  for (const auto& m : slack_.Messages())
    ++posts[m.metadata["event_payload"].value("idempotency_key", "")];
  EXPECT_EQ(posts.size(), 50u);
  for (const auto& [key, count] : posts) EXPECT_EQ(count, 1) << key;
  auto counts = notifier_->outbox().Counts();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->at(OutboxState::kSent), 50);
  EXPECT_EQ(counts->count(OutboxState::kFailed), 0u);
  int rate_limited = 0;
  for (const auto& c : slack_.Calls()) rate_limited += c.http_status == 429;
  EXPECT_EQ(rate_limited, 60) << "every 429 was met and retried";
}

TEST_F(NotifyDeliveryTest, ARestartWithAFullOutboxLosesNothingAndACrashMidPostDoesNotRepost) {
  {
    auto writer = MakeNotifier(nullptr, /*start=*/false);  // queues, never delivers
    for (int i = 0; i < 20; ++i) {
      const std::string person = PersonId(i);
      AddPerson(person);
      See(writer.get(), person, Noon() + i * 1000, Axis(i));
    }
    auto counts = writer->outbox().Counts();
    ASSERT_TRUE(counts.ok());
    EXPECT_EQ(counts->at(OutboxState::kPending), 20);
  }
  EXPECT_TRUE(slack_.Messages().empty());
  notifier_ = MakeNotifier();
  ASSERT_TRUE(notifier_->outbox().WaitUntilIdle(60000));
  EXPECT_EQ(slack_.Messages().size(), 20u);
  notifier_->Stop();
  notifier_.reset();

  // A crash right after Slack accepted a post, before the outbox recorded it.
  ASSERT_OK(stores_.db->WithConnection([](Connection& c) {
    return c.Exec("UPDATE notify_outbox SET state = 'sending', receipt = '' WHERE id = 7");
  }));
  notifier_ = MakeNotifier();
  ASSERT_TRUE(notifier_->outbox().WaitUntilIdle(60000));
  EXPECT_EQ(slack_.Messages().size(), 20u) << "the maybe-delivered post was found, not repeated";
  EXPECT_EQ(slack_.Calls("conversations.history").size(), 1u);
  auto entry = notifier_->outbox().Find("slack:greet:7");
  ASSERT_TRUE(entry.ok());
  EXPECT_EQ(entry->state, OutboxState::kSent);
  EXPECT_NE(entry->receipt.find("C0CONCIERGE:"), std::string::npos);
}

TEST_F(NotifyDeliveryTest, GreetingRulesCooldownFirstOfDayQuietHoursAndOwnDm) {
  config_.notify.greet_cooldown_min = 60;
  config_.notify.quiet_hours = "22:00-06:00";
  notifier_ = MakeNotifier();
  AddPerson("ann");
  See(notifier_.get(), "ann", Noon(), Axis(1));
  See(notifier_.get(), "ann", Noon() + 30 * 60000, Axis(1));   // within the cooldown
  See(notifier_.get(), "ann", Noon() + 90 * 60000, Axis(1));   // after it
  See(notifier_.get(), "ann", Noon() + 11 * 3600000, Axis(1)); // 23:00: quiet hours
  ASSERT_TRUE(notifier_->outbox().WaitUntilIdle(30000));
  EXPECT_EQ(MessagesContaining(slack_, "Welcome in, ann!").size(), 2u);
  notifier_->Stop();

  config_.notify.greet_cooldown_min = 0;
  config_.notify.quiet_hours = "";
  config_.notify.greet_first_of_day_only = true;
  notifier_ = MakeNotifier();
  AddPerson("bob");
  See(notifier_.get(), "bob", Noon(), Axis(2));
  See(notifier_.get(), "bob", Noon() + 3600000, Axis(2));
  // Never greeted in a DM about themselves.
  AddPerson("alice", "C0CONCIERGE");
  See(notifier_.get(), "alice", Noon(), Axis(3));
  ASSERT_TRUE(notifier_->outbox().WaitUntilIdle(30000));
  EXPECT_EQ(MessagesContaining(slack_, "Welcome in, bob!").size(), 1u);
  EXPECT_TRUE(MessagesContaining(slack_, "Welcome in, alice").empty());
}

TEST_F(NotifyDeliveryTest, LowQualityStrangersAreRecordedButNotAskedAbout) {
  notifier_ = MakeNotifier();
  const DecisionResult blurry = See(notifier_.get(), "", Noon(), Axis(5), TooSmall());
  ASSERT_TRUE(notifier_->outbox().WaitUntilIdle(30000));
  EXPECT_TRUE(MessagesContaining(slack_, "I don't know who this is").empty());
  auto cluster = stores_.clusters->ClusterOf(blurry.sighting.id);
  ASSERT_TRUE(cluster.ok());
  EXPECT_TRUE(cluster->has_value()) << "recorded in a cluster";
  // The same stranger, seen well: now they are asked about, once.
  See(notifier_.get(), "", Noon() + 1000, Axis(5));
  ASSERT_TRUE(notifier_->outbox().WaitUntilIdle(30000));
  EXPECT_EQ(MessagesContaining(slack_, "I don't know who this is").size(), 1u);
}

TEST_F(NotifyDeliveryTest, AfterHoursStrangersAlertWithAMentionAndSpoofsAreMarked) {
  notifier_ = MakeNotifier();
  See(notifier_.get(), "", Noon() + 11 * 3600000, Axis(6), Good(), /*live=*/0.05f);
  ASSERT_TRUE(notifier_->outbox().WaitUntilIdle(30000));
  const auto alerts = MessagesContaining(slack_, "outside office hours");
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].channel, "C0ALERTS");
  EXPECT_EQ(alerts[0].text.rfind("<!here>", 0), 0u) << alerts[0].text;
  for (const auto& m : slack_.Messages())
    EXPECT_NE(m.blocks.dump().find("possible photo/screen"), std::string::npos) << m.text;
  EXPECT_EQ(slack_.Messages().size(), 2u) << "the alert and the question";
  // In office hours, no alert.
  See(notifier_.get(), "", Noon(), Axis(7));
  ASSERT_TRUE(notifier_->outbox().WaitUntilIdle(30000));
  EXPECT_EQ(MessagesContaining(slack_, "outside office hours").size(), 1u);
}

TEST_F(NotifyDeliveryTest, MqttEventsReachSubscribersOnARealBroker) {
  REQUIRE_MOSQUITTO();
  testing::MosquittoBroker broker;
  ASSERT_OK(broker.Start());
  config_.notify.mqtt_events = true;
  config_.notify.slack_bot_token = "";  // MQTT only
  config_.bus = broker.MakeBusConfig("concierge-notify-test");
  std::mutex mu;
  std::map<std::string, nlohmann::json> received;
  auto listener = MqttBus::Open(broker.MakeBusConfig("listener"), "test");
  ASSERT_TRUE(listener.ok());
  ASSERT_OK((*listener)->Subscribe("concierge/office/#", [&](const Message& m) {
    std::lock_guard lock(mu);
    received[m.topic] = nlohmann::json::parse(m.payload);
    return Status::Ok();
  }));
  ASSERT_OK((*listener)->WaitSubscribed(30s));
  auto publisher = MqttBus::Open(config_.bus, "notify");
  ASSERT_TRUE(publisher.ok());
  ASSERT_OK((*publisher)->WaitSubscribed(30s));
  notifier_ = MakeNotifier(publisher->get());
  AddPerson("ann");
  See(notifier_.get(), "ann", Noon(), Axis(1));
  See(notifier_.get(), "", Noon() + 1000, Axis(2));
  ASSERT_TRUE(notifier_->outbox().WaitUntilIdle(30000));
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard lock(mu);
    return received.size() >= 3;
  }));
  notifier_->Stop();
  (*publisher)->Stop();
  (*listener)->Stop();
  std::lock_guard lock(mu);
  ASSERT_TRUE(received.count("concierge/office/events/arrival"));
  ASSERT_TRUE(received.count("concierge/office/events/unknown"));
  ASSERT_TRUE(received.count("concierge/office/people/ann/presence"));
  EXPECT_EQ(received["concierge/office/events/arrival"]["person"]["id"], "ann");
  EXPECT_TRUE(received["concierge/office/events/unknown"]["person"].is_null());
  EXPECT_EQ(received["concierge/office/people/ann/presence"]["state"], "present");
  EXPECT_TRUE(slack_.Calls().empty());
}

}  // namespace
}  // namespace concierge
