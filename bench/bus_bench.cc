// Bus speed: in-process publish->handler throughput, MQTT QoS 1 round-trip latency
// (publish on one client, handler on another, through a local mosquitto started
// here), and the cost of a durable spool append (two fsyncs).
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include "bus/inprocess_bus.h"
#include "bus/mqtt_bus.h"
#include "bus/spool.h"

namespace concierge {
namespace {

namespace fs = std::filesystem;

// A throwaway mosquitto on a free loopback port, killed with the process.
class LocalBroker {
 public:
  LocalBroker() {
    dir_ = fs::temp_directory_path() / ("bus-bench-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    port_ = FreePort();
    const std::string conf = (dir_ / "mosquitto.conf").string();
    std::ofstream(conf) << "listener " << port_ << " 127.0.0.1\nallow_anonymous true\n"
                        << "persistence false\nlog_type error\n";
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int devnull = open("/dev/null", O_RDWR);
      dup2(devnull, 0);
      dup2(devnull, 1);
      execl("/usr/sbin/mosquitto", "mosquitto", "-c", conf.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 500 && !Accepts(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ~LocalBroker() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  int port() const { return port_; }
  bool ok() const { return pid_ > 0 && Accepts(); }

 private:
  static int FreePort() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
  }
  bool Accepts() const {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    return ok;
  }
  fs::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

LocalBroker& Broker() {
  static LocalBroker broker;
  return broker;
}

void BM_InProcessPublishToHandler(benchmark::State& state) {
  InProcessBus bus(static_cast<int>(state.range(0)));
  std::atomic<int64_t> handled{0};
  (void)bus.Subscribe("concierge/crops/+", [&](const Message&) {
    handled.fetch_add(1, std::memory_order_relaxed);
    return Status::Ok();
  });
  const Message m{"concierge/crops/door", std::string(1024, 'x')};
  for (auto _ : state) {
    if (!bus.Publish(m).ok()) state.SkipWithError("publish failed");
  }
  if (!bus.Flush(std::chrono::seconds(60)).ok()) state.SkipWithError("flush timed out");
  state.SetItemsProcessed(handled.load());
}
BENCHMARK(BM_InProcessPublishToHandler)->Arg(256)->UseRealTime();

void BM_MqttRoundTrip(benchmark::State& state) {
  if (!Broker().ok()) {
    state.SkipWithError("could not start /usr/sbin/mosquitto");
    return;
  }
  BusConfig config;
  config.kind = "mqtt";
  config.mqtt.port = Broker().port();
  config.mqtt.protocol = static_cast<int>(state.range(0));
  auto sub = MqttBus::Open(config, "bench-serve");
  auto pub = MqttBus::Open(config, "bench-edge");
  if (!sub.ok() || !pub.ok()) {
    state.SkipWithError("cannot open MQTT buses");
    return;
  }
  std::mutex mu;
  std::condition_variable cv;
  int64_t received = 0;
  (void)(*sub)->Subscribe("concierge/crops/+", [&](const Message&) {
    {
      std::lock_guard lock(mu);
      ++received;
    }
    cv.notify_one();
    return Status::Ok();
  });
  if (!(*sub)->WaitSubscribed(std::chrono::seconds(30)).ok()) {
    state.SkipWithError("subscription not acknowledged");
    return;
  }
  while (!(*pub)->IsConnected()) std::this_thread::sleep_for(std::chrono::milliseconds(5));

  const Message m{"concierge/crops/door", std::string(1024, 'x')};
  std::vector<double> micros;
  int64_t sent = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    if (!(*pub)->Publish(m).ok()) {
      state.SkipWithError("publish failed");
      break;
    }
    ++sent;
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, std::chrono::seconds(10), [&] { return received >= sent; })) {
      state.SkipWithError("message lost");
      break;
    }
    micros.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  if (micros.empty()) return;
  std::sort(micros.begin(), micros.end());
  state.counters["p50_us"] = micros[micros.size() / 2];
  state.counters["p99_us"] = micros[std::min(micros.size() - 1, micros.size() * 99 / 100)];
  state.SetItemsProcessed(static_cast<int64_t>(micros.size()));
}
BENCHMARK(BM_MqttRoundTrip)->Arg(5)->Arg(3)->UseRealTime()->Iterations(2000);

void BM_SpoolAppend(benchmark::State& state) {
  const fs::path dir = fs::temp_directory_path() / ("bus-bench-spool-" + std::to_string(getpid()));
  {
    auto spool = Spool::Open(dir.string(), int64_t{1} << 34);
    if (!spool.ok()) {
      state.SkipWithError(spool.status().ToString().c_str());
      return;
    }
    const Message m{"concierge/crops/door", std::string(static_cast<size_t>(state.range(0)), 'x')};
    for (auto _ : state) {
      if (!(*spool)->Append(m).ok()) state.SkipWithError("append failed");
    }
    state.SetBytesProcessed(state.iterations() * state.range(0));
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}
BENCHMARK(BM_SpoolAppend)->Arg(64 << 10)->UseRealTime();

}  // namespace
}  // namespace concierge

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);  // keep connection chatter out of the table
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
