// Spool (on-disk FIFO) and SpooledPublisher over in-process and flaky buses.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <vector>

#include <gtest/gtest.h>

#include "bus/inprocess_bus.h"
#include "bus/spool.h"
#include "support/bus_collector.h"
#include "support/test_env.h"

namespace concierge {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using testing::Numbers;
using testing::TempDir;
using testing::PayloadCollector;

std::vector<std::string> FilesIn(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().ends_with(suffix)) out.push_back(e.path().string());
  return out;
}

std::vector<std::string> Payloads(const std::vector<SpoolEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.message.payload);
  return out;
}

TEST(SpoolTest, KeepsOrderAcrossReopen) {
  TempDir tmp;
  const std::string dir = tmp.Sub("spool");
  {
    auto spool = Spool::Open(dir, 1 << 20);
    ASSERT_TRUE(spool.ok()) << spool.status().ToString();
    for (int i = 0; i < 5; ++i) ASSERT_TRUE((*spool)->Append({"t", std::to_string(i)}).ok());
    auto front = (*spool)->Front(2);
    ASSERT_TRUE(front.ok());
    ASSERT_TRUE((*spool)->Remove((*front)[0].seq).ok());  // "0" was sent
  }
  auto spool = Spool::Open(dir, 1 << 20);
  ASSERT_TRUE(spool.ok()) << spool.status().ToString();
  EXPECT_EQ((*spool)->size(), 4u);
  ASSERT_TRUE((*spool)->Append({"t", "5"}).ok());  // lands after the resumed entries
  auto all = (*spool)->Front(100);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(Payloads(*all), (std::vector<std::string>{"1", "2", "3", "4", "5"}));
}

TEST(SpoolTest, StoresTopicQosAndBinaryPayloadExactly) {
  TempDir tmp;
  auto spool = Spool::Open(tmp.Sub("spool"), 1 << 20);
  ASSERT_TRUE(spool.ok());
  const std::string payload("\0\n\xff CSPOOL1 1 2 3\n", 18);
  ASSERT_TRUE((*spool)->Append({"site/door/crops", payload, 2}).ok());
  auto front = (*spool)->Front(1);
  ASSERT_TRUE(front.ok());
  ASSERT_EQ(front->size(), 1u);
  EXPECT_EQ((*front)[0].message.topic, "site/door/crops");
  EXPECT_EQ((*front)[0].message.payload, payload);
  EXPECT_EQ((*front)[0].message.qos, 2);
}

TEST(SpoolTest, RefusesNewMessagesWhenFullAndKeepsOldOnes) {
  TempDir tmp;
  const std::string big(400, 'x');
  auto spool = Spool::Open(tmp.Sub("spool"), 1000);
  ASSERT_TRUE(spool.ok());
  ASSERT_TRUE((*spool)->Append({"t", big}).ok());
  ASSERT_TRUE((*spool)->Append({"t", big}).ok());
  const Status full = (*spool)->Append({"t", big});
  EXPECT_EQ(full.code(), Status::Code::kUnavailable) << full.ToString();
  EXPECT_EQ((*spool)->Append({"t", std::string(2000, 'y')}).code(), Status::Code::kTooLarge);
  EXPECT_EQ((*spool)->size(), 2u);
  EXPECT_LE((*spool)->bytes(), 1000);

  auto front = (*spool)->Front(1);
  ASSERT_TRUE(front.ok());
  ASSERT_TRUE((*spool)->Remove((*front)[0].seq).ok());
  EXPECT_TRUE((*spool)->Append({"t", big}).ok());  // room again
}

TEST(SpoolTest, CleansTempFilesAndSetsCorruptFilesAside) {
  TempDir tmp;
  const std::string dir = tmp.Sub("spool");
  {
    auto spool = Spool::Open(dir, 1 << 20);
    ASSERT_TRUE(spool.ok());
    for (const char* p : {"a", "b", "c"}) ASSERT_TRUE((*spool)->Append({"t", p}).ok());
  }
  auto msgs = FilesIn(dir, ".msg");
  std::sort(msgs.begin(), msgs.end());
  ASSERT_EQ(msgs.size(), 3u);
  std::ofstream(msgs[1], std::ios::trunc) << "garbage";                     // "b" damaged
  std::ofstream(dir + "/00000000000000000099.tmp") << "half-written";        // crash mid-write

  auto spool = Spool::Open(dir, 1 << 20);
  ASSERT_TRUE(spool.ok());
  EXPECT_TRUE(FilesIn(dir, ".tmp").empty());
  auto front = (*spool)->Front(10);
  ASSERT_TRUE(front.ok()) << front.status().ToString();
  EXPECT_EQ(Payloads(*front), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(FilesIn(dir, ".corrupt").size(), 1u);  // kept for inspection
  EXPECT_EQ((*spool)->size(), 2u);
  // New entries sort after everything ever named, including the stale temp file.
  ASSERT_TRUE((*spool)->Append({"t", "d"}).ok());
  EXPECT_TRUE(fs::exists(dir + "/00000000000000000100.msg"));
}

TEST(SpoolTest, OneOwnerPerDirectory) {
  TempDir tmp;
  auto first = Spool::Open(tmp.Sub("spool"), 1 << 20);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(Spool::Open(tmp.Sub("spool"), 1 << 20).status().code(),
            Status::Code::kFailedPrecondition);
  first->reset();
  EXPECT_TRUE(Spool::Open(tmp.Sub("spool"), 1 << 20).ok());
}

// A bus whose transport can be switched off, and which rejects "poison" payloads
// as malformed; delivery goes through a real InProcessBus.
class FlakyBus : public Bus {
 public:
  std::atomic<bool> up{false};
  InProcessBus inner{64};
  Status Publish(const Message& m) override {
    if (!up) return Status::Unavailable("transport down");
    if (m.payload == "poison") return Status::InvalidArgument("malformed");
    return inner.Publish(m);
  }
  Status Subscribe(const std::string& f, Handler h) override { return inner.Subscribe(f, h); }
  Status Flush(std::chrono::milliseconds t) override { return inner.Flush(t); }
  void Stop() override { inner.Stop(); }
  BusStats Stats() const override { return inner.Stats(); }
};

TEST(SpooledPublisherTest, SendsEverythingInOrderThenEmptiesTheSpool) {
  TempDir tmp;
  InProcessBus bus(8);
  PayloadCollector c;
  ASSERT_TRUE(bus.Subscribe("crops", c.handler()).ok());
  auto pub = SpooledPublisher::Open(&bus, tmp.Sub("spool"), 1 << 20);
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  for (int i = 0; i < 200; ++i) ASSERT_TRUE((*pub)->Publish({"crops", std::to_string(i)}).ok());
  ASSERT_TRUE((*pub)->Drain(60s).ok());
  EXPECT_EQ(c.payloads(), Numbers(0, 200));
  EXPECT_TRUE(FilesIn(tmp.Sub("spool"), ".msg").empty());
  EXPECT_EQ((*pub)->Publish({"crops/+", "x"}).code(), Status::Code::kInvalidArgument);
}

TEST(SpooledPublisherTest, HoldsMessagesWhileTransportIsDownAndResumes) {
  TempDir tmp;
  FlakyBus bus;
  PayloadCollector c;
  ASSERT_TRUE(bus.Subscribe("crops", c.handler()).ok());
  auto pub = SpooledPublisher::Open(&bus, tmp.Sub("spool"), 1 << 20);
  ASSERT_TRUE(pub.ok());
  for (int i = 0; i < 50; ++i) ASSERT_TRUE((*pub)->Publish({"crops", std::to_string(i)}).ok());
  EXPECT_EQ((*pub)->Drain(300ms).code(), Status::Code::kUnavailable);
  EXPECT_EQ((*pub)->pending(), 50u);
  bus.up = true;
  ASSERT_TRUE((*pub)->Drain(60s).ok());
  EXPECT_EQ(c.payloads(), Numbers(0, 50));
}

TEST(SpooledPublisherTest, SetsAsideMessagesTheBusRejects) {
  TempDir tmp;
  FlakyBus bus;
  bus.up = true;
  PayloadCollector c;
  ASSERT_TRUE(bus.Subscribe("crops", c.handler()).ok());
  auto pub = SpooledPublisher::Open(&bus, tmp.Sub("spool"), 1 << 20);
  ASSERT_TRUE(pub.ok());
  for (const char* p : {"a", "poison", "b"}) ASSERT_TRUE((*pub)->Publish({"crops", p}).ok());
  ASSERT_TRUE((*pub)->Drain(60s).ok());
  EXPECT_EQ(c.payloads(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(FilesIn(tmp.Sub("spool"), ".rejected").size(), 1u);
}

TEST(SpooledPublisherTest, ResumesAfterPublisherRestart) {
  TempDir tmp;
  {
    FlakyBus down;  // never comes up: nothing is sent before the publisher goes away
    auto pub = SpooledPublisher::Open(&down, tmp.Sub("spool"), 1 << 20);
    ASSERT_TRUE(pub.ok());
    for (int i = 0; i < 30; ++i) ASSERT_TRUE((*pub)->Publish({"crops", std::to_string(i)}).ok());
    EXPECT_EQ((*pub)->pending(), 30u);
  }
  InProcessBus bus(8);
  PayloadCollector c;
  ASSERT_TRUE(bus.Subscribe("crops", c.handler()).ok());
  auto pub = SpooledPublisher::Open(&bus, tmp.Sub("spool"), 1 << 20);
  ASSERT_TRUE(pub.ok());
  ASSERT_TRUE((*pub)->Publish({"crops", "30"}).ok());
  ASSERT_TRUE((*pub)->Drain(60s).ok());
  EXPECT_EQ(c.payloads(), Numbers(0, 31));
}

}  // namespace
}  // namespace concierge
