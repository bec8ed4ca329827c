// InProcessBus: order, backpressure, wildcards, shared groups, drain on Stop.
#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "bus/bus.h"
#include "bus/inprocess_bus.h"
#include "support/bus_collector.h"
#include "support/test_env.h"

namespace concierge {
namespace {

using namespace std::chrono_literals;
using testing::Eventually;
using testing::PayloadCollector;

TEST(InProcessBusTest, DeliversInPublishOrder) {
  InProcessBus bus(16);  // small, so the publisher is throttled along the way
  PayloadCollector c;
  ASSERT_TRUE(bus.Subscribe("seq", c.handler()).ok());
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(bus.Publish({"seq", std::to_string(i)}).ok());
  ASSERT_TRUE(bus.Flush(60s).ok());
  const auto got = c.payloads();
  ASSERT_EQ(got.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(got[i], std::to_string(i));
  EXPECT_EQ(bus.Stats().published, 1000u);
  EXPECT_EQ(bus.Stats().delivered, 1000u);
}

TEST(InProcessBusTest, BackpressureBlocksAtCapacity) {
  InProcessBus bus(2);
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> first{true};
  std::atomic<int> handled{0};
  ASSERT_TRUE(bus.Subscribe("t", [&](const Message&) {
                   if (first.exchange(false)) {
                     entered.set_value();
                     released.wait();  // hold the dispatcher so the queue fills
                   }
                   ++handled;
                   return Status::Ok();
                 }).ok());
  ASSERT_TRUE(bus.Publish({"t", "0"}).ok());
  entered.get_future().wait();  // message 0 is in the handler, the queue is empty
  ASSERT_TRUE(bus.PublishFor({"t", "1"}, 10s).ok());
  ASSERT_TRUE(bus.PublishFor({"t", "2"}, 10s).ok());

  const Status full = bus.PublishFor({"t", "3"}, 100ms);
  EXPECT_EQ(full.code(), Status::Code::kUnavailable) << full.ToString();

  // A plain Publish waits instead; it completes once the handler lets go.
  auto blocked = std::async(std::launch::async, [&] { return bus.Publish({"t", "3"}); });
  release.set_value();
  EXPECT_TRUE(blocked.get().ok());
  ASSERT_TRUE(bus.Flush(30s).ok());
  EXPECT_EQ(handled.load(), 4);
}

TEST(InProcessBusTest, WildcardsRouteToEveryMatchingFilter) {
  InProcessBus bus(64);
  PayloadCollector plus, hash, exact;
  ASSERT_TRUE(bus.Subscribe("site/+/crops", plus.handler()).ok());
  ASSERT_TRUE(bus.Subscribe("site/#", hash.handler()).ok());
  ASSERT_TRUE(bus.Subscribe("site/door/crops", exact.handler()).ok());
  for (const char* topic : {"site/door/crops", "site/lobby/crops", "site/door/events", "other/x"})
    ASSERT_TRUE(bus.Publish({topic, topic}).ok());
  ASSERT_TRUE(bus.Flush(30s).ok());
  EXPECT_EQ(plus.payloads(), (std::vector<std::string>{"site/door/crops", "site/lobby/crops"}));
  EXPECT_EQ(hash.payloads(), (std::vector<std::string>{"site/door/crops", "site/lobby/crops",
                                                      "site/door/events"}));
  EXPECT_EQ(exact.payloads(), (std::vector<std::string>{"site/door/crops"}));
  EXPECT_EQ(bus.Stats().dropped, 1u);  // "other/x" had no subscriber
}

TEST(InProcessBusTest, SharedGroupGivesEachMessageToOneMember) {
  InProcessBus bus(64);
  PayloadCollector a, b;
  ASSERT_TRUE(bus.SubscribeShared("workers", "jobs/+", a.handler()).ok());
  ASSERT_TRUE(bus.SubscribeShared("workers", "jobs/+", b.handler()).ok());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(bus.Publish({"jobs/x", std::to_string(i)}).ok());
  ASSERT_TRUE(bus.Flush(30s).ok());
  const auto ga = a.payloads(), gb = b.payloads();
  EXPECT_FALSE(ga.empty());
  EXPECT_FALSE(gb.empty());
  EXPECT_EQ(ga.size() + gb.size(), 100u);
}

TEST(InProcessBusTest, StopDrainsQueuedMessages) {
  InProcessBus bus(1000);
  std::atomic<int> handled{0};
  ASSERT_TRUE(bus.Subscribe("t", [&](const Message&) {
                   std::this_thread::sleep_for(1ms);  // keep a backlog in the queue
                   ++handled;
                   return Status::Ok();
                 }).ok());
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(bus.Publish({"t", "x"}).ok());
  bus.Stop();
  EXPECT_EQ(handled.load(), 200);
  EXPECT_EQ(bus.Publish({"t", "late"}).code(), Status::Code::kFailedPrecondition);
  bus.Stop();  // idempotent
}

TEST(InProcessBusTest, HandlerErrorsAreCountedAndDeliveryContinues) {
  InProcessBus bus(8);
  std::atomic<int> calls{0};
  ASSERT_TRUE(bus.Subscribe("t", [&](const Message& m) {
                   ++calls;
                   if (m.payload == "bad") return Status::InvalidArgument("bad payload");
                   if (m.payload == "throw") throw std::runtime_error("boom");
                   return Status::Ok();
                 }).ok());
  for (const char* p : {"ok", "bad", "throw", "ok"}) ASSERT_TRUE(bus.Publish({"t", p}).ok());
  ASSERT_TRUE(bus.Flush(30s).ok());
  EXPECT_EQ(calls.load(), 4);
  EXPECT_EQ(bus.Stats().delivered, 2u);
  EXPECT_EQ(bus.Stats().handler_errors, 2u);
}

TEST(InProcessBusTest, HandlerMayPublishEvenWhenQueueIsFull) {
  InProcessBus bus(1);
  PayloadCollector out;
  ASSERT_TRUE(bus.Subscribe("out", out.handler()).ok());
  ASSERT_TRUE(bus.Subscribe("in", [&](const Message& m) {
                   // Fan out more than the capacity; must not wait for ourselves.
                   for (int i = 0; i < 3; ++i) RETURN_IF_ERROR(bus.Publish({"out", m.payload}));
                   return bus.Flush(1s).code() == Status::Code::kFailedPrecondition
                              ? Status::Ok()
                              : Status::Internal("Flush from a handler must be refused");
                 }).ok());
  ASSERT_TRUE(bus.Publish({"in", "a"}).ok());
  ASSERT_TRUE(bus.Publish({"in", "b"}).ok());
  ASSERT_TRUE(Eventually([&] { return out.payloads().size() == 6; }));
  EXPECT_EQ(bus.Stats().handler_errors, 0u);
}

TEST(InProcessBusTest, RejectsBadTopicsAndFilters) {
  InProcessBus bus(4);
  EXPECT_EQ(bus.Publish({"a/+", "x"}).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(bus.Publish({"", "x"}).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(bus.Publish({"a", "x", 3}).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(bus.Subscribe("a/#/b", [](const Message&) { return Status::Ok(); }).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(bus.Subscribe("$share//a", [](const Message&) { return Status::Ok(); }).code(),
            Status::Code::kInvalidArgument);
}

TEST(InProcessBusTest, OpenBusPicksBackendFromConfig) {
  BusConfig config;
  auto bus = OpenBus(config, "test");
  ASSERT_TRUE(bus.ok()) << bus.status().ToString();
  config.kind = "carrier-pigeon";
  EXPECT_EQ(OpenBus(config, "test").status().code(), Status::Code::kInvalidArgument);
  config.kind = "inprocess";
  config.queue_capacity = 0;
  EXPECT_EQ(OpenBus(config, "test").status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace concierge
