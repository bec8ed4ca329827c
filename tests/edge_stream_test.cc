// A network camera that drops out: an MJPEG-over-HTTP stream (what many IP
// cameras serve) and a real RTSP server (what office cameras speak), each on
// 127.0.0.1, stopped and started again. The edge must reconnect by itself and
// keep going.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/config.h"
#include "pipeline/camera_registry.h"
#include "pipeline/edge.h"
#include "support/child_process.h"
#include "support/face_images.h"
#include "support/test_env.h"

namespace concierge {
namespace {

using testing::DataPath;
using testing::Eventually;
using namespace std::chrono_literals;

// Serves an endless multipart JPEG stream (the same picture at ~25 fps) to
// one client at a time, on a plain socket so the test needs no HTTP library.
class MjpegCamera {
 public:
  explicit MjpegCamera(std::string jpeg) : jpeg_(std::move(jpeg)) {}
  ~MjpegCamera() { Stop(); }

  // Listens on 127.0.0.1:`port` (0: a free port) and returns the port, or -1.
  int Start(int port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    socklen_t len = sizeof(addr);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listen_fd_, 4) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      return -1;
    running_ = true;
    thread_ = std::thread([this] { Serve(); });
    return ntohs(addr.sin_port);
  }

  // Closes the listener and any open stream, as a camera losing power would.
  void Stop() {
    if (!running_.exchange(false)) return;
    thread_.join();
    close(listen_fd_);
  }

 private:
  void Serve() {
    while (running_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const int client = accept(listen_fd_, nullptr, nullptr);
      if (client < 0) continue;
      char buf[4096];
      std::string request;
      while (request.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = recv(client, buf, sizeof(buf), 0);
        if (n <= 0) break;
        request.append(buf, static_cast<size_t>(n));
      }
      const std::string head =
          "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n"
          "Connection: close\r\n\r\n";
      const std::string part =
          "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: " + std::to_string(jpeg_.size()) +
          "\r\n\r\n" + jpeg_ + "\r\n";
      bool ok = send(client, head.data(), head.size(), MSG_NOSIGNAL) > 0;
      while (ok && running_) {
        ok = send(client, part.data(), part.size(), MSG_NOSIGNAL) ==
             static_cast<ssize_t>(part.size());
        std::this_thread::sleep_for(std::chrono::milliseconds(40));
      }
      close(client);
    }
  }

  const std::string jpeg_;
  int listen_fd_ = -1;
  std::atomic<bool> running_{false};
  std::thread thread_;
};

TEST(EdgeStream, HttpCameraThatDropsOutIsReconnected) {
  REQUIRE_TEST_DATA();
  MjpegCamera camera(testing::ReadFile(DataPath("enroll/face_recognition/examples/obama.jpg")));
  const int port = camera.Start(0);
  ASSERT_GT(port, 0);

  Config config;
  config.vision.models_dir = DefaultModelsDir();
  CameraConfig cam;
  cam.name = "lobby";
  cam.site = "hq";
  cam.source = "http://127.0.0.1:" + std::to_string(port) + "/live.mjpg";
  config.edge.cameras.push_back(cam);
  std::mutex mu;
  int sightings = 0;
  auto stage = EdgeStage::Start(
      config,
      [&](const Sighting&) {
        std::lock_guard lock(mu);
        ++sightings;
        return Status::Ok();
      },
      /*once=*/false);
  ASSERT_TRUE(stage.ok()) << stage.status().ToString();
  auto stats = [&] { return (*stage)->Stats()[0]; };

  ASSERT_TRUE(Eventually([&] { return stats().frames >= 10; })) << "no frames from the stream";
  camera.Stop();  // the camera drops off the network
  ASSERT_TRUE(Eventually([&] {
    return stats().errors >= 1 && stats().last_error.find("127.0.0.1") != std::string::npos;
  })) << "the drop went unnoticed: " << stats().last_error;
  const int64_t frames_before = stats().frames;

  ASSERT_EQ(camera.Start(port), port);  // back on the same address
  EXPECT_TRUE(Eventually([&] { return stats().frames >= frames_before + 10; }))
      << "never reconnected";
  // The error goes once frames flow again; the count stays.
  EXPECT_TRUE(Eventually([&] { return stats().last_error.empty(); })) << stats().last_error;
  (*stage)->Stop();
  const CameraStats final_stats = stats();
  EXPECT_FALSE(final_stats.finished);
  EXPECT_GE(final_stats.errors, 1);
  std::lock_guard lock(mu);
  EXPECT_GE(sightings, 1) << "the face in view was published (at the latest when Stop flushed it)";
}

// An RTSP camera: GStreamer's RTSP server (tests/rtsp/serve_clip.py) streaming
// a video file at its own pace, in a child process that can die like a camera.
class RtspCamera {
 public:
  RtspCamera(std::string clip, std::string log_path)
      : clip_(std::move(clip)), log_path_(std::move(log_path)) {}

  // Serves on 127.0.0.1:`port` (0: any free port); the bound port, or -1.
  int Start(int port) {
    const size_t mark = server_.Log().size();
    if (!server_.Start({"/usr/bin/python3", std::string(CONCIERGE_SOURCE_DIR) +
                                                "/tests/rtsp/serve_clip.py",
                        std::to_string(port), clip_},
                       {}, log_path_))
      return -1;
    const std::string ready = "rtsp: serving on ";
    if (!server_.WaitForLog(ready, 60s, mark)) return -1;
    const std::string log = server_.Log();
    return std::atoi(log.c_str() + log.find(ready, mark) + ready.size());
  }
  // The camera loses power mid-stream.
  void Kill() { server_.Kill(); }
  std::string Log() const { return server_.Log(); }

 private:
  const std::string clip_;
  const std::string log_path_;
  testing::ChildProcess server_;
};

TEST(EdgeStream, RtspCameraThatStopsMidStreamReconnectsAndSightsFacesAfterTheGap) {
  REQUIRE_TEST_DATA();
  testing::TempDir dir;
  RtspCamera camera(DataPath("videos/short_hamilton_clip.mp4"), dir.Sub("rtsp.log"));
  const int port = camera.Start(0);
  ASSERT_GT(port, 0) << "the RTSP server did not start (setup installs "
                        "gir1.2-gst-rtsp-server-1.0): "
                     << camera.Log();

  Config config;
  config.vision.models_dir = DefaultModelsDir();
  CameraConfig cam;
  cam.name = "door";
  cam.site = "hq";
  cam.source = "rtsp://127.0.0.1:" + std::to_string(port) + "/live";
  config.edge.cameras.push_back(cam);
  std::mutex mu;
  std::vector<Sighting> sightings;
  CameraRegistry cameras;
  const int64_t started_ms = NowMs();
  auto stage = EdgeStage::Start(
      config,
      [&](const Sighting& s) {
        std::lock_guard lock(mu);
        sightings.push_back(s);
        return Status::Ok();
      },
      /*once=*/false, &cameras);
  ASSERT_TRUE(stage.ok()) << stage.status().ToString();
  auto state = [&] { return cameras.Find("door")->status().state; };
  auto stats = [&] { return (*stage)->Stats()[0]; };
  // Sightings captured after `ms` (capture time of a live camera: the clock).
  auto sighted_after = [&](int64_t ms) {
    std::lock_guard lock(mu);
    return std::count_if(sightings.begin(), sightings.end(),
                         [&](const Sighting& s) { return s.captured_ms > ms; });
  };

  ASSERT_TRUE(Eventually([&] { return stats().frames >= 25; })) << "no frames: " << camera.Log();
  EXPECT_EQ(state(), CameraState::kRunning);
  camera.Kill();
  ASSERT_TRUE(Eventually([&] { return state() == CameraState::kReconnecting; }))
      << "the camera never showed the drop: " << stats().last_error;
  EXPECT_GE(stats().errors, 1);
  EXPECT_NE(stats().last_error.find("rtsp://127.0.0.1"), std::string::npos) << stats().last_error;

  const int64_t back_ms = NowMs();
  ASSERT_EQ(camera.Start(port), port) << "the camera came back elsewhere: " << camera.Log();
  ASSERT_TRUE(Eventually([&] { return sighted_after(back_ms) >= 1; }, 120s))
      << "no face sighted after the camera came back";
  EXPECT_EQ(state(), CameraState::kRunning);
  EXPECT_TRUE(Eventually([&] { return stats().last_error.empty(); }))
      << "the error stayed after the camera came back: " << stats().last_error;
  (*stage)->Stop();

  std::lock_guard lock(mu);
  for (const Sighting& s : sightings) {
    // A live camera's sighting carries when it was captured, by this machine's clock.
    EXPECT_GE(s.captured_ms, started_ms);
    EXPECT_LE(s.captured_ms, NowMs());
    EXPECT_EQ(s.camera, "door");
  }
}

}  // namespace
}  // namespace concierge
