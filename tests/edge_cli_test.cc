// `concierge edge` as a process against a real mosquitto: bad setups fail
// clearly, sightings reach the broker, a broker outage spools to disk and the
// next start sends the spool first, and SIGTERM flushes and drains.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "bus/mqtt_bus.h"
#include "pipeline/sighting.h"
#include "support/child_process.h"
#include "support/mosquitto_fixture.h"
#include "support/test_env.h"
#include "vision/image_io.h"

namespace concierge {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::DataPath;
using testing::MosquittoBroker;
using testing::RunCommand;
using testing::TempDir;
namespace fs = std::filesystem;

constexpr const char* kExamples = "enroll/face_recognition/examples/";
constexpr int kExitBadInput = 4, kExitUnavailable = 7, kExitSetup = 8;

std::vector<std::string> MqttEnv(int port) {
  return {"CONCIERGE_BUS_KIND=mqtt", "CONCIERGE_BUS_MQTT_HOST=127.0.0.1",
          "CONCIERGE_BUS_MQTT_PORT=" + std::to_string(port)};
}

std::vector<std::string> EdgeArgs(const TempDir& dir, const std::string& folder,
                                  std::vector<std::string> extra) {
  std::vector<std::string> args = {testing::BinaryPath(),
                                   "--data-dir",
                                   dir.Sub("data"),
                                   "edge",
                                   "--source",
                                   folder,
                                   "--camera",
                                   "front",
                                   "--site",
                                   "hq"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

size_t SpooledFiles(const std::string& spool) {
  size_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(spool, ec))
    if (e.path().extension() == ".msg") ++n;
  return n;
}

// Sightings a subscriber received, deduplicated by id (QoS 1 is at-least-once).
class Subscriber {
 public:
  explicit Subscriber(const MosquittoBroker& broker) {
    auto bus = MqttBus::Open(broker.MakeBusConfig("edge-cli-test"), "test");
    EXPECT_TRUE(bus.ok()) << bus.status().ToString();
    bus_ = std::move(bus).value();
    EXPECT_TRUE(bus_->Subscribe("concierge/#",
                                [this](const Message& m) {
                                  auto s = DecodeSighting(m.payload, DecodeLimits{});
                                  EXPECT_TRUE(s.ok()) << s.status().ToString();
                                  EXPECT_EQ(m.topic, "concierge/hq/front/sightings");
                                  std::lock_guard lock(mu_);
                                  if (s.ok() && seen_.insert(s->id).second) order_.push_back(*s);
                                  return Status::Ok();
                                })
                    .ok());
    EXPECT_TRUE(bus_->WaitSubscribed(10s).ok());
  }
  ~Subscriber() { bus_->Stop(); }

  // Waits up to 20 s for at least `n` distinct sightings and returns them in arrival order.
  std::vector<Sighting> WaitFor(size_t n) {
    for (int i = 0; i < 400 && count() < n; ++i) std::this_thread::sleep_for(50ms);
    std::lock_guard lock(mu_);
    return order_;
  }

 private:
  size_t count() {
    std::lock_guard lock(mu_);
    return order_.size();
  }
  std::unique_ptr<MqttBus> bus_;
  std::mutex mu_;
  std::set<std::string> seen_;
  std::vector<Sighting> order_;
};

TEST(EdgeCli, RefusesTheInProcessBus) {
  TempDir dir;
  fs::create_directories(dir.Sub("drop"));
  const auto r = RunCommand(EdgeArgs(dir, dir.Sub("drop"), {"--once"}));
  EXPECT_EQ(r.exit_code, kExitSetup) << r.err;
  EXPECT_NE(r.err.find("bus.kind"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("mqtt"), std::string::npos) << r.err;
}

TEST(EdgeCli, OnceNeedsAFileOrFolder) {
  TempDir dir;
  const auto r = RunCommand(EdgeArgs(dir, "rtsp://127.0.0.1:1/cam", {"--once"}), MqttEnv(1));
  EXPECT_EQ(r.exit_code, kExitBadInput) << r.err;
  EXPECT_NE(r.err.find("--once"), std::string::npos) << r.err;
}

TEST(EdgeCli, BrokerOutageSpoolsAndTheNextStartSendsTheSpoolFirst) {
  REQUIRE_TEST_DATA();
  REQUIRE_MOSQUITTO();
  MosquittoBroker broker;
  ASSERT_TRUE(broker.Start().ok()) << broker.Log();
  ASSERT_TRUE(broker.Stop().ok());  // the port is known, the broker is down
  TempDir dir;
  const std::string drop = dir.Sub("drop");
  fs::create_directories(drop);
  fs::copy_file(DataPath(std::string(kExamples) + "obama.jpg"), drop + "/obama.jpg");

  const auto down =
      RunCommand(EdgeArgs(dir, drop, {"--once", "--drain-timeout", "2"}), MqttEnv(broker.port()));
  EXPECT_EQ(down.exit_code, kExitUnavailable) << down.err;
  EXPECT_NE(down.err.find("spool"), std::string::npos) << down.err;
  EXPECT_NE(down.err.find("sightings"), std::string::npos) << "the summary is printed" << down.err;
  const size_t spooled = SpooledFiles(dir.Sub("data/spool"));
  EXPECT_GE(spooled, 1u) << "the sighting waits on disk";
  EXPECT_TRUE(fs::exists(drop + "/processed/obama.jpg"))
      << "its sighting is durable, so the photo is done";

  ASSERT_TRUE(broker.Start().ok()) << broker.Log();
  Subscriber subscriber(broker);
  fs::copy_file(DataPath(std::string(kExamples) + "obama2.jpg"), drop + "/obama2.jpg");
  const auto up = RunCommand(EdgeArgs(dir, drop, {"--once", "--json"}), MqttEnv(broker.port()));
  ASSERT_EQ(up.exit_code, 0) << up.err;
  const auto summary = nlohmann::json::parse(up.out);
  const size_t fresh = summary["cameras"][0]["sightings"].get<size_t>();
  EXPECT_GE(fresh, 1u);
  EXPECT_EQ(summary["spool_pending"].get<size_t>(), 0u);
  EXPECT_EQ(SpooledFiles(dir.Sub("data/spool")), 0u);

  const auto got = subscriber.WaitFor(spooled + fresh);
  ASSERT_EQ(got.size(), spooled + fresh) << "nothing lost across the outage and the restart";
  // The spool is a FIFO: the outage's sightings go out before the new photo's.
  const int64_t obama_time = got.front().captured_ms;
  for (size_t i = 0; i < spooled; ++i) EXPECT_EQ(got[i].captured_ms, obama_time);
  for (size_t i = spooled; i < got.size(); ++i) EXPECT_NE(got[i].captured_ms, obama_time);
}

TEST(EdgeCli, SigtermFlushesTracksDrainsAndExitsCleanly) {
  REQUIRE_TEST_DATA();
  REQUIRE_MOSQUITTO();
  MosquittoBroker broker;
  ASSERT_TRUE(broker.Start().ok()) << broker.Log();
  Subscriber subscriber(broker);
  TempDir dir;
  // Ten seconds of one blurred face, replayed in real time: the face scores
  // about 0.5, under the early-publish bar, so its track can only be
  // published when it ends, and it ends only when SIGTERM flushes it.
  const std::string video = dir.Sub("blurred.avi");
  {
    auto image = ReadImageFile(DataPath(std::string(kExamples) + "obama.jpg"), ImageLimits{});
    ASSERT_TRUE(image.ok());
    cv::Mat frame;
    cv::resize(*image, frame, cv::Size(640, 480));
    cv::GaussianBlur(frame, frame, cv::Size(), 4);
    cv::VideoWriter writer(video, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 30, frame.size());
    ASSERT_TRUE(writer.isOpened());
    for (int i = 0; i < 300; ++i) writer.write(frame);
  }

  ChildProcess edge;
  ASSERT_TRUE(edge.Start(EdgeArgs(dir, video, {"--realtime"}), MqttEnv(broker.port()),
                         dir.Sub("edge.log")));
  ASSERT_TRUE(edge.WaitForLog("following a face", 120s)) << edge.Log();
  EXPECT_TRUE(subscriber.WaitFor(0).empty()) << "the blurred face's track is still open";
  edge.Signal(SIGTERM);
  const int exit_code = edge.Wait(120s);
  const std::string log = edge.Log();
  EXPECT_EQ(exit_code, 0) << log;
  EXPECT_NE(log.find("frames"), std::string::npos) << "the summary is printed" << log;
  const auto got = subscriber.WaitFor(1);
  ASSERT_EQ(got.size(), 1u) << "the open track was flushed and sent before exit";
  EXPECT_LT(got[0].quality.score, 0.75f);
  EXPECT_EQ(SpooledFiles(dir.Sub("data/spool")), 0u) << "the spool was drained";
}

}  // namespace
}  // namespace concierge
