// Bus speed: in-process publish->handler throughput, MQTT QoS 1 round-trip latency
// (publish on one client, handler on another, through a local mosquitto started
// here), and the cost of a durable spool append (two fsyncs).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include "bus/inprocess_bus.h"
#include "bus/mqtt_bus.h"
#include "bus/spool.h"
#include "support/mosquitto_fixture.h"

namespace concierge {
namespace {

namespace fs = std::filesystem;

// A throwaway mosquitto on a free loopback port (the tests' fixture), started
// on first use; nullptr when it cannot start.
testing::MosquittoBroker* Broker() {
  static testing::MosquittoBroker broker;
  static const bool started = broker.Start().ok();
  return started ? &broker : nullptr;
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
  if (!Broker()) {
    state.SkipWithError("could not start /usr/sbin/mosquitto");
    return;
  }
  BusConfig config;
  config.kind = "mqtt";
  config.mqtt.port = Broker()->port();
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
