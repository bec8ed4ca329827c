// MqttBus and SpooledPublisher against a real mosquitto broker on 127.0.0.1.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "bus/mqtt_bus.h"
#include "bus/spool.h"
#include "support/bus_collector.h"
#include "support/mosquitto_fixture.h"
#include "support/test_env.h"

namespace concierge {
namespace {

using namespace std::chrono_literals;
using testing::Eventually;
using testing::MosquittoBroker;
using testing::MosquittoOptions;
using testing::Numbers;
using testing::TempDir;
using testing::PayloadCollector;

std::unique_ptr<MqttBus> OpenOrDie(const BusConfig& config, const std::string& role = "test") {
  auto bus = MqttBus::Open(config, role);
  EXPECT_TRUE(bus.ok()) << bus.status().ToString();
  return bus.ok() ? std::move(bus).value() : nullptr;
}

class MqttBusTest : public ::testing::TestWithParam<int> {  // the MQTT protocol, 5 or 3
 protected:
  void SetUp() override { REQUIRE_MOSQUITTO(); }
};

TEST_P(MqttBusTest, RoundTripAtQos1DeliversBytesInOrder) {
  MosquittoBroker broker;
  ASSERT_OK(broker.Start());
  auto sub = OpenOrDie(broker.MakeBusConfig("", GetParam()), "serve");
  auto pub = OpenOrDie(broker.MakeBusConfig("", GetParam()), "edge");
  ASSERT_TRUE(sub && pub);
  EXPECT_NE(sub->client_id(), pub->client_id());
  PayloadCollector c;
  ASSERT_OK(sub->Subscribe("site/+/crops", c.handler()));
  ASSERT_OK(sub->WaitSubscribed(30s));
  ASSERT_TRUE(Eventually([&] { return pub->IsConnected(); }));

  for (int i = 0; i < 50; ++i) ASSERT_OK(pub->Publish({"site/door/crops", std::to_string(i)}));
  // Payloads are bytes: not UTF-8, with NULs, and large; judging them is the server's job.
  const std::string binary("\0\xff\xfe not json \n", 15);
  const std::string large(1 << 20, '\x7f');
  ASSERT_OK(pub->Publish({"site/door/crops", binary}));
  ASSERT_OK(pub->Publish({"site/door/crops", large}));
  ASSERT_OK(pub->Publish({"site/door/events", "not subscribed"}));
  ASSERT_OK(pub->Flush(30s));

  ASSERT_TRUE(Eventually([&] { return c.size() >= 52; })) << c.size();
  auto got = c.payloads();
  ASSERT_EQ(got.size(), 52u);
  EXPECT_EQ(std::vector<std::string>(got.begin(), got.begin() + 50), Numbers(0, 50));
  EXPECT_EQ(got[50], binary);
  EXPECT_EQ(got[51], large);
  EXPECT_EQ(pub->Stats().published, 53u);
  // The counter moves after the handler returns, so it may trail the collector briefly.
  EXPECT_TRUE(Eventually([&] { return sub->Stats().delivered == 52u; })) << sub->Stats().delivered;
}

TEST_P(MqttBusTest, SharedSubscriptionSplitsMessagesWithoutDuplicates) {
  MosquittoBroker broker;
  ASSERT_OK(broker.Start());
  auto w1 = OpenOrDie(broker.MakeBusConfig("", GetParam()), "serve");
  auto w2 = OpenOrDie(broker.MakeBusConfig("", GetParam()), "serve");
  auto pub = OpenOrDie(broker.MakeBusConfig("", GetParam()), "edge");
  ASSERT_TRUE(w1 && w2 && pub);
  PayloadCollector c1, c2;
  ASSERT_OK(w1->SubscribeShared("workers", "jobs/#", c1.handler()));
  ASSERT_OK(w2->SubscribeShared("workers", "jobs/#", c2.handler()));
  ASSERT_OK(w1->WaitSubscribed(30s));
  ASSERT_OK(w2->WaitSubscribed(30s));
  ASSERT_TRUE(Eventually([&] { return pub->IsConnected(); }));

  constexpr int kCount = 200;
  for (int i = 0; i < kCount; ++i) ASSERT_OK(pub->Publish({"jobs/face", std::to_string(i)}));
  ASSERT_OK(pub->Flush(30s));
  ASSERT_TRUE(Eventually([&] { return c1.size() + c2.size() >= kCount; }));

  const auto a = c1.payloads(), b = c2.payloads();
  EXPECT_FALSE(a.empty());
  EXPECT_FALSE(b.empty());
  EXPECT_EQ(a.size() + b.size(), static_cast<size_t>(kCount));
  std::set<std::string> all(a.begin(), a.end());
  all.insert(b.begin(), b.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kCount));  // none twice
}

TEST_P(MqttBusTest, PersistentSessionKeepsMessagesWhileSubscriberRestarts) {
  MosquittoBroker broker;
  ASSERT_OK(broker.Start());
  const std::string id = "concierge-test-worker-" + std::to_string(GetParam());
  {
    auto sub = OpenOrDie(broker.MakeBusConfig(id, GetParam()), "serve");
    ASSERT_TRUE(sub);
    ASSERT_OK(sub->Subscribe("crops/#", [](const Message&) { return Status::Ok(); }));
    ASSERT_OK(sub->WaitSubscribed(30s));
  }  // the worker goes away; its session stays on the broker
  auto pub = OpenOrDie(broker.MakeBusConfig("", GetParam()), "edge");
  ASSERT_TRUE(pub);
  ASSERT_TRUE(Eventually([&] { return pub->IsConnected(); }));
  for (int i = 0; i < 20; ++i) ASSERT_OK(pub->Publish({"crops/door", std::to_string(i)}));
  ASSERT_OK(pub->Flush(30s));

  // The restarted worker gets the queued messages even though the broker may send
  // them before Subscribe is called again.
  auto sub = OpenOrDie(broker.MakeBusConfig(id, GetParam()), "serve");
  ASSERT_TRUE(sub);
  ASSERT_TRUE(Eventually([&] { return sub->IsConnected(); }));
  PayloadCollector c;
  ASSERT_OK(sub->Subscribe("crops/#", c.handler()));
  ASSERT_TRUE(Eventually([&] { return c.size() >= 20; })) << c.size() << "\n" << broker.Log();
  EXPECT_EQ(c.distinct(), Numbers(0, 20));
}

TEST_P(MqttBusTest, AMessageItsHandlerCouldNotKeepIsDeliveredAgain) {
  MosquittoBroker broker;
  ASSERT_OK(broker.Start());
  const std::string id = "concierge-test-refuser-" + std::to_string(GetParam());
  auto sub = OpenOrDie(broker.MakeBusConfig(id, GetParam()), "serve");
  auto pub = OpenOrDie(broker.MakeBusConfig("", GetParam()), "edge");
  ASSERT_TRUE(sub && pub);
  std::atomic<int> calls{0};
  ASSERT_OK(sub->Subscribe("crops/#", [&](const Message&) {
    // The first time, as a server stopping during a storage outage would.
    return ++calls == 1 ? Status::Unavailable("storage is down") : Status::Ok();
  }));
  ASSERT_OK(sub->WaitSubscribed(30s));
  ASSERT_TRUE(Eventually([&] { return pub->IsConnected(); }));
  ASSERT_OK(pub->Publish({"crops/door", "only one"}));
  ASSERT_OK(pub->Flush(30s));
  ASSERT_TRUE(Eventually([&] { return calls >= 2; })) << calls << "\n" << broker.Log();
  EXPECT_EQ(sub->Stats().delivered, 1u);
}

TEST_P(MqttBusTest, AnEndedSessionNoLongerTakesAShareOfTheGroup) {
  MosquittoBroker broker;
  ASSERT_OK(broker.Start());
  const std::string gone = "concierge-test-gone-" + std::to_string(GetParam());
  const std::string filter = "$share/workers/crops/#";
  {
    auto sub = OpenOrDie(broker.MakeBusConfig(gone, GetParam()), "serve");
    ASSERT_TRUE(sub);
    ASSERT_OK(sub->Subscribe(filter, [](const Message&) { return Status::Ok(); }));
    ASSERT_OK(sub->WaitSubscribed(30s));
  }  // stopped; its persistent session stays in the group
  ASSERT_OK(EndMqttSession(broker.MakeBusConfig("", GetParam()).mqtt, gone, 10s));

  auto live = OpenOrDie(broker.MakeBusConfig("", GetParam()), "serve");
  auto pub = OpenOrDie(broker.MakeBusConfig("", GetParam()), "edge");
  ASSERT_TRUE(live && pub);
  PayloadCollector c;
  ASSERT_OK(live->Subscribe(filter, c.handler()));
  ASSERT_OK(live->WaitSubscribed(30s));
  ASSERT_TRUE(Eventually([&] { return pub->IsConnected(); }));
  for (int i = 0; i < 20; ++i) ASSERT_OK(pub->Publish({"crops/door", std::to_string(i)}));
  ASSERT_OK(pub->Flush(30s));
  ASSERT_TRUE(Eventually([&] { return c.size() >= 20; })) << c.size() << "\n" << broker.Log();
  EXPECT_EQ(c.distinct(), Numbers(0, 20));
}

TEST_P(MqttBusTest, SpooledPublisherSurvivesBrokerOutage) {
  MosquittoBroker broker(MosquittoOptions{.persistence = true});
  ASSERT_OK(broker.Start());
  TempDir tmp;
  auto sub = OpenOrDie(broker.MakeBusConfig("concierge-test-ingest", GetParam()), "serve");
  auto bus = OpenOrDie(broker.MakeBusConfig("", GetParam()), "edge");
  ASSERT_TRUE(sub && bus);
  PayloadCollector c;
  ASSERT_OK(sub->Subscribe("crops/door", c.handler()));
  ASSERT_OK(sub->WaitSubscribed(30s));
  ASSERT_TRUE(Eventually([&] { return bus->IsConnected(); }));
  auto edge = SpooledPublisher::Open(bus.get(), tmp.Sub("spool"), 64 << 20);
  ASSERT_TRUE(edge.ok()) << edge.status().ToString();

  constexpr int kTotal = 500, kBeforeOutage = 100;
  for (int i = 0; i < kBeforeOutage; ++i)
    ASSERT_OK((*edge)->Publish({"crops/door", std::to_string(i)}));
  ASSERT_OK(broker.Stop());
  for (int i = kBeforeOutage; i < kTotal; ++i)
    ASSERT_OK((*edge)->Publish({"crops/door", std::to_string(i)}));
  // Nothing published during the outage can have been acknowledged.
  EXPECT_GE((*edge)->pending(), static_cast<size_t>(kTotal - kBeforeOutage));
  std::this_thread::sleep_for(3s);  // keep the broker down a while; not an assertion
  EXPECT_FALSE(bus->IsConnected());
  EXPECT_EQ(bus->Ready().code(), Status::Code::kUnavailable);
  ASSERT_OK(broker.Start());
  EXPECT_TRUE(Eventually([&] { return bus->Ready().ok(); }));

  ASSERT_OK((*edge)->Drain(180s));
  ASSERT_TRUE(Eventually([&] { return c.distinct().size() >= kTotal; }, 180s))
      << c.distinct().size() << "\n" << broker.Log();
  size_t repeats = 0;
  EXPECT_EQ(c.distinct(&repeats), Numbers(0, kTotal));  // all of them, in order
  RecordProperty("redelivered", static_cast<int>(repeats));
}

TEST_P(MqttBusTest, SpoolSurvivesPublisherRestart) {
  MosquittoBroker broker;
  ASSERT_OK(broker.Start());
  TempDir tmp;
  auto sub = OpenOrDie(broker.MakeBusConfig("", GetParam()), "serve");
  ASSERT_TRUE(sub);
  PayloadCollector c;
  ASSERT_OK(sub->Subscribe("crops/door", c.handler()));
  ASSERT_OK(sub->WaitSubscribed(30s));
  {
    BusConfig nowhere = broker.MakeBusConfig("", GetParam());
    nowhere.mqtt.port = 1;  // nothing listens: the edge starts while the broker is unreachable
    auto bus = OpenOrDie(nowhere, "edge");
    ASSERT_TRUE(bus);
    auto edge = SpooledPublisher::Open(bus.get(), tmp.Sub("spool"), 1 << 20);
    ASSERT_TRUE(edge.ok()) << edge.status().ToString();
    for (int i = 0; i < 50; ++i) ASSERT_OK((*edge)->Publish({"crops/door", std::to_string(i)}));
    EXPECT_EQ((*edge)->pending(), 50u);
    EXPECT_EQ(bus->Publish({"crops/door", "direct"}).code(), Status::Code::kUnavailable);
  }  // publisher and its bus are destroyed with everything still on disk
  auto bus = OpenOrDie(broker.MakeBusConfig("", GetParam()), "edge");
  ASSERT_TRUE(bus);
  auto edge = SpooledPublisher::Open(bus.get(), tmp.Sub("spool"), 1 << 20);
  ASSERT_TRUE(edge.ok()) << edge.status().ToString();
  EXPECT_EQ((*edge)->pending(), 50u);
  ASSERT_OK((*edge)->Drain(120s));
  ASSERT_TRUE(Eventually([&] { return c.size() >= 50; }));
  EXPECT_EQ(c.distinct(), Numbers(0, 50));
}

TEST_P(MqttBusTest, FlushWaitsForAcksAcrossReconnect) {
  MosquittoBroker broker;
  ASSERT_OK(broker.Start());
  auto pub = OpenOrDie(broker.MakeBusConfig("", GetParam()), "edge");
  ASSERT_TRUE(pub);
  ASSERT_TRUE(Eventually([&] { return pub->IsConnected(); }));
  broker.Pause();  // the messages go out but no PUBACK comes back
  for (int i = 0; i < 10; ++i) ASSERT_OK(pub->Publish({"crops/door", std::to_string(i)}));
  EXPECT_EQ(pub->Flush(200ms).code(), Status::Code::kUnavailable);
  ASSERT_OK(broker.Kill());
  ASSERT_TRUE(Eventually([&] { return !pub->IsConnected(); }));
  EXPECT_EQ(pub->Publish({"crops/door", "x"}).code(), Status::Code::kUnavailable);
  EXPECT_EQ(pub->Flush(200ms).code(), Status::Code::kUnavailable);
  ASSERT_OK(broker.Start());
  // libmosquitto resends the unacknowledged messages after reconnecting.
  ASSERT_OK(pub->Flush(120s));
  EXPECT_EQ(pub->Stats().published, 10u);
}

TEST_P(MqttBusTest, ABrokerDownAtOpenIsReachedWhenItComesUp) {
  MosquittoBroker broker;
  ASSERT_OK(broker.Start());  // picks the port it comes back on
  ASSERT_OK(broker.Stop());
  // A persistent-session subscriber and a clean-session publisher, both opened
  // while nothing listens.
  auto sub = OpenOrDie(broker.MakeBusConfig("late-server", GetParam()), "serve");
  auto pub = OpenOrDie(broker.MakeBusConfig("", GetParam()), "edge");
  ASSERT_TRUE(sub && pub);
  PayloadCollector c;
  ASSERT_OK(sub->Subscribe("crops/#", c.handler()));
  EXPECT_EQ(pub->Publish({"crops/door", "early"}).code(), Status::Code::kUnavailable);
  ASSERT_OK(broker.Start());
  ASSERT_OK(sub->WaitSubscribed(120s));
  ASSERT_TRUE(Eventually([&] { return pub->IsConnected(); }, 120s));
  ASSERT_OK(pub->Publish({"crops/door", "late"}));
  ASSERT_OK(pub->Flush(60s));
  ASSERT_TRUE(Eventually([&] { return c.size() >= 1; }));
  EXPECT_EQ(c.distinct(), std::vector<std::string>{"late"});
  sub->Stop();
  pub->Stop();
}

TEST_P(MqttBusTest, HandlerErrorsAreCountedAndDeliveryContinues) {
  MosquittoBroker broker;
  ASSERT_OK(broker.Start());
  auto sub = OpenOrDie(broker.MakeBusConfig("", GetParam()), "serve");
  auto pub = OpenOrDie(broker.MakeBusConfig("", GetParam()), "edge");
  ASSERT_TRUE(sub && pub);
  std::atomic<int> calls{0};
  ASSERT_OK(sub->Subscribe("t", [&](const Message& m) {
    ++calls;
    return m.payload == "bad" ? Status::InvalidArgument("bad payload") : Status::Ok();
  }));
  ASSERT_OK(sub->WaitSubscribed(30s));
  ASSERT_TRUE(Eventually([&] { return pub->IsConnected(); }));
  for (const char* p : {"ok", "bad", "ok"}) ASSERT_OK(pub->Publish({"t", p}));
  ASSERT_TRUE(Eventually([&] { return calls.load() == 3; }));
  sub->Stop();
  EXPECT_EQ(sub->Stats().delivered, 2u);
  EXPECT_EQ(sub->Stats().handler_errors, 1u);
  EXPECT_EQ(sub->Publish({"t", "x"}).code(), Status::Code::kFailedPrecondition);
}

// Keeps every log line, for checking what the bus writes.
class CaptureSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string contents() {
    std::lock_guard lock(mutex_);
    return text_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    text_.append(msg.payload.data(), msg.payload.size()).push_back('\n');
  }
  void flush_() override {}

 private:
  std::string text_;
};

INSTANTIATE_TEST_SUITE_P(Protocols, MqttBusTest, ::testing::Values(5, 3),
                         [](const auto& info) { return "mqtt" + std::to_string(info.param); });

TEST(MqttBusAuthTest, UsesCredentialsAndNeverLogsThePassword) {
  if (!MosquittoBroker::Available() || !MosquittoBroker::PasswdToolAvailable())
    GTEST_SKIP() << "\n*** mosquitto or mosquitto_passwd MISSING ***";
  const std::string password = "s3cret-Pa55word";
  MosquittoBroker broker(MosquittoOptions{.username = "edge", .password = password});
  ASSERT_OK(broker.Start());

  auto logged = std::make_shared<CaptureSink>();
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", logged));
  {
    auto good = OpenOrDie(broker.MakeBusConfig(), "edge");
    ASSERT_TRUE(good);
    ASSERT_OK(good->Subscribe("t", [](const Message&) { return Status::Ok(); }));
    EXPECT_TRUE(good->WaitSubscribed(30s).ok());

    BusConfig wrong = broker.MakeBusConfig();
    wrong.mqtt.password = "not-" + password;
    auto bad = OpenOrDie(wrong, "edge");
    ASSERT_TRUE(bad);
    EXPECT_TRUE(
        Eventually([&] { return logged->contents().find("refused") != std::string::npos; }));
    EXPECT_FALSE(bad->IsConnected());
    EXPECT_EQ(bad->Publish({"t", "x"}).code(), Status::Code::kUnavailable);
  }
  spdlog::set_default_logger(previous);
  const std::string text = logged->contents();
  EXPECT_NE(text.find("user 'edge'"), std::string::npos) << text;
  EXPECT_EQ(text.find(password), std::string::npos) << text;
}

TEST(MqttBusConfigTest, RejectsBadSettings) {
  BusConfig config;
  config.kind = "mqtt";
  config.mqtt.protocol = 4;
  EXPECT_EQ(MqttBus::Open(config, "x").status().code(), Status::Code::kInvalidArgument);
  config.mqtt.protocol = 5;
  config.mqtt.keepalive_s = 1;
  EXPECT_EQ(MqttBus::Open(config, "x").status().code(), Status::Code::kInvalidArgument);
  config.mqtt.keepalive_s = 30;
  config.mqtt.tls_ca_file = "/nonexistent/ca.pem";
  EXPECT_EQ(MqttBus::Open(config, "x").status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace concierge
