// The durable outbox: idempotent enqueue, exactly-once delivery through a 429
// storm and an outage, restart with a full outbox, crash-in-flight rows,
// permanent failures, strict order.
#include <atomic>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "notify/outbox.h"
#include "notify/slack_client.h"
#include "notify/slack_communicator.h"
#include "store/database.h"
#include "support/fake_slack.h"
#include "support/test_env.h"

namespace concierge {
namespace {

using testing::FakeSlack;

std::unique_ptr<Database> OpenDb(const std::string& path) {
  auto db = Database::OpenSqlite(path, 5000);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return db.ok() ? std::move(db).value() : nullptr;
}

Notification Greeting(int i) {
  Notification n;
  n.kind = "greeting";
  n.channel = "C0CONCIERGE";
  n.idempotency_key = "greet:" + std::to_string(i);
  n.payload = {{"text", "Good morning #" + std::to_string(i)}};
  return n;
}

SlackClientOptions FastClient(const FakeSlack& slack) {
  SlackClientOptions o;
  o.api_url = slack.api_url();
  o.bot_token = slack.token();
  o.timeout_ms = 3000;
  o.call_attempts = 3;
  o.backoff_initial_ms = 10;
  o.backoff_max_ms = 50;
  o.max_retry_after_s = 1;
  return o;
}

OutboxOptions FastOutbox() {
  OutboxOptions o;
  o.max_attempts = 0;  // never give up on transient failures
  o.backoff_initial_ms = 10;
  o.backoff_max_ms = 100;
  o.poll_ms = 50;
  return o;
}

// The keys of the messages Slack holds, in the order they were posted.
std::vector<std::string> PostedKeys(const FakeSlack& slack) {
  std::vector<std::string> keys;
  for (const auto& m : slack.Messages())
    keys.push_back(m.metadata["event_payload"]["idempotency_key"].get<std::string>());
  return keys;
}

int SuccessfulPosts(const FakeSlack& slack) {
  int n = 0;
  for (const auto& c : slack.Calls("chat.postMessage")) n += c.ok ? 1 : 0;
  return n;
}

TEST(Outbox, EnqueueIsIdempotentPerKey) {
  testing::TempDir dir;
  auto db = OpenDb(dir.Sub("c.db"));
  ASSERT_NE(db, nullptr);
  Outbox outbox(*db, [](const OutboxItem&) -> Result<std::string> { return std::string("r"); });
  auto a = outbox.Enqueue(Greeting(1));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE(a->inserted);
  Notification again = Greeting(1);
  again.payload = {{"text", "different text, same key"}};
  auto b = outbox.Enqueue(again);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->inserted);
  EXPECT_EQ(b->id, a->id);
  auto counts = outbox.Counts();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[OutboxState::kPending], 1);
  Notification no_key = Greeting(2);
  no_key.idempotency_key.clear();
  EXPECT_EQ(outbox.Enqueue(no_key).status().code(), Status::Code::kInvalidArgument);
}

TEST(Outbox, DeliversFiftyExactlyOnceThroughA429StormAndAnOutage) {
  testing::TempDir dir;
  auto db = OpenDb(dir.Sub("c.db"));
  ASSERT_NE(db, nullptr);
  FakeSlack slack;
  auto slack_comm =
      std::make_shared<SlackCommunicator>(std::make_shared<SlackClient>(FastClient(slack)), "");
  Outbox outbox(
      *db, [&](const OutboxItem& item) { return slack_comm->Publish(item.notification); },
      FastOutbox());

  slack.RateLimitNext(7, 1);  // longer than one call's attempts: the outbox must reschedule
  for (int i = 0; i < 25; ++i) ASSERT_TRUE(outbox.Enqueue(Greeting(i)).ok());
  outbox.Start();
  // Wait for the storm to pass and a few posts to land, then take Slack down.
  while (SuccessfulPosts(slack) < 5) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  slack.SetDown(true);
  for (int i = 25; i < 50; ++i) ASSERT_TRUE(outbox.Enqueue(Greeting(i)).ok());
  size_t calls_when_down = slack.Calls().size();
  while (slack.Calls().size() < calls_when_down + 5)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  slack.SetDown(false);
  ASSERT_TRUE(outbox.WaitUntilIdle(60000));
  outbox.Stop();

  EXPECT_EQ(SuccessfulPosts(slack), 50);
  EXPECT_EQ(slack.Messages().size(), 50u);
  std::vector<std::string> expected;
  for (int i = 0; i < 50; ++i) expected.push_back("greet:" + std::to_string(i));
  EXPECT_EQ(PostedKeys(slack), expected);  // each once, in enqueue order
  int rate_limited = 0, down = 0;
  for (const auto& c : slack.Calls()) {
    rate_limited += c.http_status == 429;
    down += c.http_status == 503;
  }
  EXPECT_EQ(rate_limited, 7);
  EXPECT_GE(down, 5);
  auto counts = outbox.Counts();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[OutboxState::kSent], 50);
  auto first = outbox.Find("greet:0");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->receipt, "C0CONCIERGE:" + slack.Messages()[0].ts);
  EXPECT_GE(first->attempts, 2);  // the storm outlasted its first delivery
}

TEST(Outbox, RestartWithAFullOutboxLosesAndDuplicatesNothing) {
  testing::TempDir dir;
  const std::string path = dir.Sub("c.db");
  FakeSlack slack;
  slack.Close();  // Slack unreachable: everything stays queued
  {
    auto db = OpenDb(path);
    ASSERT_NE(db, nullptr);
    auto client = std::make_shared<SlackClient>(FastClient(slack));
    SlackCommunicator comm(client, "");
    Outbox outbox(*db, [&](const OutboxItem& item) { return comm.Publish(item.notification); },
                  FastOutbox());
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(outbox.Enqueue(Greeting(i)).ok());
    outbox.Start();
    while (true) {
      auto head = outbox.Find("greet:0");
      ASSERT_TRUE(head.ok());
      if (head->attempts >= 2) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    comm.Stop();
    outbox.Stop();
    // Enqueued again after the "crash": still no-ops.
    for (int i = 0; i < 20; ++i) EXPECT_FALSE(outbox.Enqueue(Greeting(i))->inserted);
  }
  slack.Reopen();
  auto db = OpenDb(path);
  ASSERT_NE(db, nullptr);
  SlackCommunicator comm(std::make_shared<SlackClient>(FastClient(slack)), "");
  std::atomic<int> maybe_delivered{0};
  Outbox outbox(
      *db,
      [&](const OutboxItem& item) {
        maybe_delivered += item.maybe_delivered;
        return comm.Publish(item.notification);
      },
      FastOutbox());
  outbox.Start();
  ASSERT_TRUE(outbox.WaitUntilIdle(30000));
  outbox.Stop();
  EXPECT_EQ(SuccessfulPosts(slack), 20);
  EXPECT_EQ(slack.Messages().size(), 20u);
  const std::vector<std::string> keys = PostedKeys(slack);
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()).size(), 20u);
  EXPECT_EQ(maybe_delivered.load(), 0);  // a clean stop leaves nothing in flight
}

TEST(Outbox, ARowCutOffMidDeliveryIsRetriedAndFlaggedMaybeDelivered) {
  testing::TempDir dir;
  const std::string path = dir.Sub("c.db");
  FakeSlack slack;
  SlackCommunicator comm(std::make_shared<SlackClient>(FastClient(slack)), "");
  {
    auto db = OpenDb(path);
    ASSERT_NE(db, nullptr);
    Outbox outbox(*db, [](const OutboxItem&) -> Result<std::string> { return std::string(); });
    ASSERT_TRUE(outbox.Enqueue(Greeting(1)).ok());
    ASSERT_TRUE(outbox.Enqueue(Greeting(2)).ok());
    // Simulate a crash after Slack accepted greet:1 but before it was marked
    // sent: the message exists and the row is stuck in 'sending'.
    ASSERT_TRUE(comm.Publish(Greeting(1)).ok());
    ASSERT_TRUE(db->WithConnection([](Connection& c) {
                    return c.Exec("UPDATE notify_outbox SET state = 'sending', attempts = 1 "
                                  "WHERE idempotency_key = 'greet:1'");
                  }).ok());
  }
  auto db = OpenDb(path);
  ASSERT_NE(db, nullptr);
  std::vector<std::pair<std::string, bool>> seen;
  // A delivery function that uses the flag the way the Slack integration
  // should: look for its own message (by metadata key) before posting again.
  Outbox outbox(
      *db,
      [&](const OutboxItem& item) -> Result<std::string> {
        seen.emplace_back(item.notification.idempotency_key, item.maybe_delivered);
        if (item.maybe_delivered)
          for (const auto& m : slack.Messages())
            if (m.metadata["event_payload"]["idempotency_key"] ==
                item.notification.idempotency_key)
              return m.channel + ":" + m.ts;
        return comm.Publish(item.notification);
      },
      FastOutbox());
  outbox.Start();
  ASSERT_TRUE(outbox.WaitUntilIdle(30000));
  outbox.Stop();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], std::make_pair(std::string("greet:1"), true));
  EXPECT_EQ(seen[1], std::make_pair(std::string("greet:2"), false));
  EXPECT_EQ(PostedKeys(slack), (std::vector<std::string>{"greet:1", "greet:2"}));
  auto row = outbox.Find("greet:1");
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->state, OutboxState::kSent);
  EXPECT_EQ(row->attempts, 2);
}

TEST(Outbox, PermanentFailuresAreMarkedFailedAndDoNotBlockTheRest) {
  testing::TempDir dir;
  auto db = OpenDb(dir.Sub("c.db"));
  ASSERT_NE(db, nullptr);
  FakeSlack slack;
  SlackCommunicator comm(std::make_shared<SlackClient>(FastClient(slack)), "");
  OutboxOptions options = FastOutbox();
  options.max_attempts = 3;
  std::atomic<int> flaky_calls{0};
  Outbox outbox(
      *db,
      [&](const OutboxItem& item) -> Result<std::string> {
        if (item.notification.kind == "flaky") {
          ++flaky_calls;
          return Status::Unavailable("always down");
        }
        return comm.Publish(item.notification);
      },
      options);
  Notification lost = Greeting(1);
  lost.channel = "C0GONE";
  Notification flaky = Greeting(2);
  flaky.kind = "flaky";
  ASSERT_TRUE(outbox.Enqueue(lost).ok());
  ASSERT_TRUE(outbox.Enqueue(flaky).ok());
  ASSERT_TRUE(outbox.Enqueue(Greeting(3)).ok());
  outbox.Start();
  ASSERT_TRUE(outbox.WaitUntilIdle(30000));
  outbox.Stop();
  auto first = outbox.Find("greet:1");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->state, OutboxState::kFailed);
  EXPECT_EQ(first->attempts, 1);
  EXPECT_NE(first->last_error.find("channel_not_found"), std::string::npos);
  auto second = outbox.Find("greet:2");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->state, OutboxState::kFailed);
  EXPECT_EQ(second->attempts, 3);
  EXPECT_EQ(flaky_calls.load(), 3);
  EXPECT_EQ(PostedKeys(slack), (std::vector<std::string>{"greet:3"}));
}

}  // namespace
}  // namespace concierge
