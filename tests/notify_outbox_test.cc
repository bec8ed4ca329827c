// The durable outbox over each backend (one suite, SQLite and PostgreSQL):
// idempotent enqueue, exactly-once delivery through a 429 storm and an
// outage, restart with a full outbox, crash-in-flight rows, permanent
// failures, strict order; and across workers sharing one outbox: each row
// delivered once, a dead worker's claim taken over after its lease.
#include <atomic>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "notify/outbox.h"
#include "notify/slack_client.h"
#include "notify/slack_communicator.h"
#include "core/clock.h"
#include "support/fake_slack.h"
#include "support/store_backend.h"
#include "support/test_env.h"

namespace concierge {
namespace {

using testing::FakeSlack;

class OutboxTest : public testing::StoreBackendTest {};
CONCIERGE_ALL_STORE_BACKENDS(OutboxTest);

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

TEST_P(OutboxTest, EnqueueIsIdempotentPerKey) {
  auto store = OpenOutbox();
  ASSERT_NE(store, nullptr);
  Outbox outbox(*store, [](const OutboxItem&) -> Result<std::string> { return std::string("r"); });
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

TEST_P(OutboxTest, DeliversFiftyExactlyOnceThroughA429StormAndAnOutage) {
  auto store = OpenOutbox();
  ASSERT_NE(store, nullptr);
  FakeSlack slack;
  auto slack_comm =
      std::make_shared<SlackCommunicator>(std::make_shared<SlackClient>(FastClient(slack)), "");
  Outbox outbox(
      *store, [&](const OutboxItem& item) { return slack_comm->Publish(item.notification); },
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

TEST_P(OutboxTest, RestartWithAFullOutboxLosesAndDuplicatesNothing) {
  FakeSlack slack;
  slack.Close();  // Slack unreachable: everything stays queued
  {
    auto store = OpenOutbox();
    ASSERT_NE(store, nullptr);
    auto client = std::make_shared<SlackClient>(FastClient(slack));
    SlackCommunicator comm(client, "");
    Outbox outbox(*store, [&](const OutboxItem& item) { return comm.Publish(item.notification); },
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
  auto store = OpenOutbox();
  ASSERT_NE(store, nullptr);
  SlackCommunicator comm(std::make_shared<SlackClient>(FastClient(slack)), "");
  std::atomic<int> maybe_delivered{0};
  Outbox outbox(
      *store,
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

TEST_P(OutboxTest, ARowCutOffMidDeliveryIsRetriedAndFlaggedMaybeDelivered) {
  FakeSlack slack;
  SlackCommunicator comm(std::make_shared<SlackClient>(FastClient(slack)), "");
  {
    auto store = OpenOutbox();
    ASSERT_NE(store, nullptr);
    Outbox outbox(*store, [](const OutboxItem&) -> Result<std::string> { return std::string(); });
    ASSERT_TRUE(outbox.Enqueue(Greeting(1)).ok());
    ASSERT_TRUE(outbox.Enqueue(Greeting(2)).ok());
    // Simulate a crash after Slack accepted greet:1 but before it was marked
    // sent: the message exists and the row stays claimed ('sending').
    auto claim = store->ClaimHead(NowMs(), 1);
    ASSERT_OK(claim);
    ASSERT_EQ(claim->kind, OutboxClaim::Kind::kClaimed);
    ASSERT_EQ(claim->entry.idempotency_key, "greet:1");
    ASSERT_TRUE(comm.Publish(Greeting(1)).ok());
  }
  auto store = OpenOutbox();
  ASSERT_NE(store, nullptr);
  std::vector<std::pair<std::string, bool>> seen;
  // A delivery function that uses the flag the way the Slack integration
  // should: look for its own message (by metadata key) before posting again.
  Outbox outbox(
      *store,
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

TEST_P(OutboxTest, PermanentFailuresAreMarkedFailedAndDoNotBlockTheRest) {
  auto store = OpenOutbox();
  ASSERT_NE(store, nullptr);
  FakeSlack slack;
  SlackCommunicator comm(std::make_shared<SlackClient>(FastClient(slack)), "");
  OutboxOptions options = FastOutbox();
  options.max_attempts = 3;
  std::atomic<int> flaky_calls{0};
  Outbox outbox(
      *store,
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

// Two workers on one outbox, as two servers on one PostgreSQL: each row goes
// out once and in enqueue order, whichever worker claims it.
TEST_P(OutboxTest, TwoWorkersDeliverEachRowOnceInOrder) {
  if (!postgres()) GTEST_SKIP() << "a SQLite outbox has one worker by contract";
  auto store_a = OpenOutbox();
  auto store_b = OpenOutbox();
  ASSERT_NE(store_a, nullptr);
  ASSERT_NE(store_b, nullptr);
  FakeSlack slack;
  SlackCommunicator comm(std::make_shared<SlackClient>(FastClient(slack)), "");
  std::atomic<int> by_a{0}, by_b{0};
  Outbox a(*store_a, [&](const OutboxItem& item) {
    ++by_a;
    return comm.Publish(item.notification);
  }, FastOutbox());
  Outbox b(*store_b, [&](const OutboxItem& item) {
    ++by_b;
    return comm.Publish(item.notification);
  }, FastOutbox());
  a.Start();
  b.Start();
  std::vector<std::string> expected;
  for (int i = 0; i < 40; ++i) {
    ASSERT_OK((i % 2 ? a : b).Enqueue(Greeting(i)));
    expected.push_back("greet:" + std::to_string(i));
  }
  ASSERT_TRUE(a.WaitUntilIdle(60000));
  a.Stop();
  b.Stop();
  EXPECT_EQ(PostedKeys(slack), expected);  // each once, in enqueue order
  EXPECT_EQ(SuccessfulPosts(slack), 40);
  EXPECT_EQ(by_a.load() + by_b.load(), 40);
  auto counts = store_b->Counts();
  ASSERT_OK(counts);
  EXPECT_EQ((*counts)[OutboxState::kSent], 40);
}

// A worker that claimed the head and died: another takes the row over once
// the lease ran out (PostgreSQL) or at its start (SQLite, one worker), flagged
// maybe_delivered, and the dead worker's late outcome changes nothing.
TEST_P(OutboxTest, ADeadWorkersClaimIsTakenOverAfterItsLease) {
  auto dead = OpenOutbox();
  ASSERT_NE(dead, nullptr);
  ASSERT_OK(dead->Enqueue({"greeting", "C0CONCIERGE", R"({"text":"hi"})", "greet:1"}, NowMs()));
  ASSERT_OK(dead->Enqueue({"greeting", "C0CONCIERGE", R"({"text":"ho"})", "greet:2"}, NowMs()));
  auto claim = dead->ClaimHead(NowMs(), 400);
  ASSERT_OK(claim);
  ASSERT_EQ(claim->kind, OutboxClaim::Kind::kClaimed);
  EXPECT_EQ(claim->entry.attempts, 1);
  EXPECT_FALSE(claim->maybe_delivered);
  const int64_t lease_until = claim->entry.lease_until_ms;

  // While the lease runs, the head (and so every later row) is not claimable.
  auto other = OpenOutbox();
  ASSERT_NE(other, nullptr);
  if (postgres()) {
    auto blocked = other->ClaimHead(NowMs(), 400);
    ASSERT_OK(blocked);
    if (NowMs() < lease_until) {
      EXPECT_EQ(blocked->kind, OutboxClaim::Kind::kWait);
      EXPECT_EQ(blocked->wait_until_ms, lease_until);
    }
  }

  std::vector<std::pair<std::string, bool>> seen;
  std::vector<int64_t> first_delivery_ms;
  Outbox taker(*other, [&](const OutboxItem& item) -> Result<std::string> {
    seen.emplace_back(item.notification.idempotency_key, item.maybe_delivered);
    first_delivery_ms.push_back(NowMs());
    return std::string("r");
  }, FastOutbox());
  taker.Start();
  ASSERT_TRUE(taker.WaitUntilIdle(30000));
  taker.Stop();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], std::make_pair(std::string("greet:1"), true));
  EXPECT_EQ(seen[1], std::make_pair(std::string("greet:2"), false));
  EXPECT_TRUE(!postgres() || first_delivery_ms[0] >= lease_until)
      << "taken over " << lease_until - first_delivery_ms[0] << " ms before the lease ran out";

  // The dead worker wakes up and reports: its claim is gone, nothing changes.
  auto late = dead->Finish(claim->entry.id, 1, OutboxState::kFailed, 0, "", "late", NowMs());
  ASSERT_OK(late);
  EXPECT_FALSE(*late);
  auto row = other->Find("greet:1");
  ASSERT_OK(row);
  EXPECT_EQ(row->state, OutboxState::kSent);
  EXPECT_EQ(row->attempts, 2);
  EXPECT_EQ(row->receipt, "r");
}

TEST_P(OutboxTest, PayloadQueriesAndRetention) {
  auto store = OpenOutbox();
  ASSERT_NE(store, nullptr);
  const auto add = [&](const std::string& key, const std::string& kind, const std::string& payload,
                       int64_t at) { ASSERT_OK(store->Enqueue({kind, "", payload, key}, at)); };
  add("g1", "greeting", R"({"person_id":"alice","at_ms":100})", 1000);
  add("g2", "greeting", R"({"person_id":"alice","at_ms":300})", 2000);
  add("g3", "greeting", R"({"person_id":"bob","at_ms":900})", 3000);
  add("q1", "question", R"({"person_id":"alice","at_ms":5000,"cluster_id":7})", 4000);
  auto last = store->MaxPayloadInt("greeting", "person_id", "alice", "at_ms");
  ASSERT_OK(last);
  EXPECT_EQ(*last, std::optional<int64_t>(300));
  auto none = store->MaxPayloadInt("greeting", "person_id", "carol", "at_ms");
  ASSERT_OK(none);
  EXPECT_EQ(*none, std::nullopt);
  auto about = store->DeleteAbout("cluster_id", "7");  // a number, compared as text
  ASSERT_OK(about);
  EXPECT_EQ(*about, 1);
  auto old = store->DeleteCreatedBefore(2500);
  ASSERT_OK(old);
  EXPECT_EQ(*old, 2);
  auto counts = store->Counts();
  ASSERT_OK(counts);
  EXPECT_EQ(*counts, (std::map<OutboxState, int64_t>{{OutboxState::kPending, 1}}));
  EXPECT_TRUE(store->Find("g3").ok());
  EXPECT_EQ(store->Find("g1").status().code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace concierge
