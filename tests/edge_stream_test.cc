// A network camera that drops out: an MJPEG-over-HTTP stream (what many IP
// cameras serve) from a server on 127.0.0.1 that is stopped and started again.
// The edge must reconnect by itself and keep going.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "core/config.h"
#include "pipeline/edge.h"
#include "support/face_images.h"
#include "support/test_env.h"

namespace concierge {
namespace {

using testing::DataPath;

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

// Polls `done` every 50 ms for up to `seconds`.
bool WaitFor(const std::function<bool()>& done, int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

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

  ASSERT_TRUE(WaitFor([&] { return stats().frames >= 10; }, 20)) << "no frames from the stream";
  camera.Stop();  // the camera drops off the network
  ASSERT_TRUE(WaitFor([&] { return stats().errors >= 1; }, 10)) << "the drop went unnoticed";
  const int64_t frames_before = stats().frames;

  ASSERT_EQ(camera.Start(port), port);  // back on the same address
  EXPECT_TRUE(WaitFor([&] { return stats().frames >= frames_before + 10; }, 20))
      << "never reconnected";
  (*stage)->Stop();
  const CameraStats final_stats = stats();
  EXPECT_FALSE(final_stats.finished);
  EXPECT_GE(final_stats.errors, 1);
  EXPECT_NE(final_stats.last_error.find("127.0.0.1"), std::string::npos) << final_stats.last_error;
  std::lock_guard lock(mu);
  EXPECT_GE(sightings, 1) << "the face in view was published (at the latest when Stop flushed it)";
}

}  // namespace
}  // namespace concierge
