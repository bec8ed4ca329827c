// The daily digest against the fake Slack with an injected clock: nothing
// before notify.digest_time, exactly one post at it, none again that day (not
// even after a restart), and the next day's at its time.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>

#include "core/clock.h"
#include "notify/daily_digest.h"
#include "notify/notifier.h"
#include "pipeline/ingest.h"
#include "support/fake_slack.h"
#include "support/notifier_parts.h"
#include "support/sighting_crops.h"
#include "support/test_env.h"
#include "support/sighting_records.h"

namespace concierge {
namespace {

using testing::Eventually;
using testing::FakeSlack;

constexpr int64_t kHour = 3600000;
constexpr int64_t kDay = 1'795'478'400'000;  // 2026-11-24 00:00 UTC

class NotifyDigestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TEST_DATA();
    setenv("TZ", "UTC", 1);
    tzset();
    config_.data_dir = dir_.path();
    NotifyConfig& n = config_.notify;
    n.slack_api_url = slack_.api_url();
    n.slack_bot_token = slack_.token();
    n.slack_channel = "C0CONCIERGE";
    n.digest_channel = "C0DIGEST";
    n.digest_time = "18:00";
    n.office_hours = "07:00-19:00";
    n.greet = false;
    n.ask_unknown = false;
    n.backoff_initial_ms = 10;
    slack_.AddChannel("C0DIGEST", "digest");
    ASSERT_OK(stores_.Open(config_, 0.5f, 24 * kHour));
    ASSERT_OK(stores_.faces->AddPerson({"ana", "Ana", "", 0}));
    See("ana", kDay + 8 * kHour + 30 * 60000);
    See("", kDay + 6 * kHour);  // a stranger before office hours
  }

  void See(const std::string& person, int64_t at_ms) {
    Embedding embedding(512, 0.f);
    embedding[1] = 1.f;
    ASSERT_OK(testing::RecordDecided(*stores_.sightings, *stores_.objects,
                                     {.id = "s" + std::to_string(++next_id_), .person = person,
                                      .captured_ms = at_ms, .embedding = embedding})
                  .status());
  }

  std::unique_ptr<Notifier> MakeNotifier() {
    auto n = Notifier::Create(config_, stores_.ForNotifier(nullptr, nullptr));
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    if (n.ok()) (*n)->Start(nullptr);
    return n.ok() ? std::move(*n) : nullptr;
  }
  std::unique_ptr<DailyDigest> MakeDigest(Notifier* notifier) {
    auto d = DailyDigest::Create(config_, {stores_.sightings.get(), stores_.faces.get(), notifier,
                                           [this] { return now_.load(); }});
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? std::move(*d) : nullptr;
  }
  size_t Digests() const {
    size_t n = 0;
    for (const auto& m : slack_.Messages()) n += m.channel == "C0DIGEST";
    return n;
  }

  FakeSlack slack_;
  testing::TempDir dir_;
  Config config_;
  testing::NotifierStores stores_;
  std::atomic<int64_t> now_{kDay + 17 * kHour + 59 * 60000};
  int next_id_ = 0;
};

TEST_F(NotifyDigestTest, PostsOnceAtTheConfiguredLocalTime) {
  auto notifier = MakeNotifier();
  ASSERT_NE(notifier, nullptr);
  auto digest = MakeDigest(notifier.get());
  ASSERT_NE(digest, nullptr);

  auto early = digest->Tick();  // 17:59
  ASSERT_OK(early);
  EXPECT_FALSE(*early);
  EXPECT_FALSE(notifier->outbox().Find("slack:digest:2026-11-24").ok());

  now_ = kDay + 18 * kHour;  // 18:00
  auto due = digest->Tick();
  ASSERT_OK(due);
  EXPECT_TRUE(*due);
  ASSERT_TRUE(Eventually([&] { return Digests() == 1; })) << slack_.Messages().size();
  const auto messages = slack_.Messages();
  std::string text;
  for (const auto& m : messages)
    if (m.channel == "C0DIGEST") text = m.text;
  EXPECT_NE(text.find("Daily digest for 2026-11-24"), std::string::npos) << text;
  EXPECT_NE(text.find("Ana at 08:30"), std::string::npos) << text;
  EXPECT_NE(text.find("Strangers still untagged: 1"), std::string::npos) << text;
  EXPECT_NE(text.find("After-hours events: 1"), std::string::npos) << text;

  now_ = kDay + 18 * kHour + 5 * 60000;
  auto again = digest->Tick();
  ASSERT_OK(again);
  EXPECT_FALSE(*again);

  // A restart the same evening does not post it again: the outbox knows the key.
  digest.reset();
  notifier->Stop();
  notifier = MakeNotifier();
  digest = MakeDigest(notifier.get());
  auto restarted = digest->Tick();
  ASSERT_OK(restarted);
  EXPECT_FALSE(*restarted);

  // The next day's digest comes at the next 18:00, not before.
  now_ = kDay + 24 * kHour + 9 * kHour;
  EXPECT_FALSE(digest->Tick().value());
  now_ = kDay + 24 * kHour + 18 * kHour + 1;
  EXPECT_TRUE(digest->Tick().value());
  ASSERT_TRUE(Eventually([&] { return Digests() == 2; }));
  auto sent = notifier->outbox().Find("slack:digest:2026-11-25");
  ASSERT_OK(sent);
  EXPECT_EQ(slack_.Calls("chat.postMessage").size(), 2u);
  notifier->Stop();
}

TEST_F(NotifyDigestTest, MalformedTimeIsRefused) {
  auto notifier = MakeNotifier();
  ASSERT_NE(notifier, nullptr);
  for (const char* bad : {"6pm", "24:00", "18:60", "18:00x", ""}) {
    config_.notify.digest_time = bad;
    auto d = DailyDigest::Create(config_,
                                 {stores_.sightings.get(), stores_.faces.get(), notifier.get()});
    EXPECT_FALSE(d.ok()) << bad;
  }
  notifier->Stop();
}

}  // namespace
}  // namespace concierge
