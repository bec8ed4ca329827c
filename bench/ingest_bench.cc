// Ingest throughput with durable writes: a sighting message validated
// (JSON, base64, JPEG structure), its crop Put to the filesystem object store
// (temp file + fsync + rename + a directory fsync shared by concurrent Puts) and its row inserted in
// SQLite (WAL, synchronous FULL: one fsync per commit), by one thread and by
// as many threads as `serve` has MQTT connections in flight
// (serve.ingest_connections), whose rows share commits (GroupInserter); then
// the same behind a real mosquitto, as `serve` receives them. Also each part
// alone, to show where the time goes.
//   build/bench/ingest_bench [--benchmark_filter=...]
// Face data: $CONCIERGE_TEST_DATA (default ../shared/data). Scratch files go to
// $CONCIERGE_BENCH_DIR (default the system temp dir): put it on the disk to measure.
// /usr/sbin/mosquitto for the MQTT case.
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include "bus/bus_group.h"
#include "bus/mqtt_bus.h"
#include "core/clock.h"
#include "pipeline/ingest.h"
#include "pipeline/server.h"
#include "pipeline/sighting.h"
#include "store/database.h"
#include "store/fs_object_store.h"
#include "store/sqlite_sighting_store.h"
#include "support/mosquitto_fixture.h"
#include "support/sighting_crops.h"
#include "support/test_env.h"

namespace concierge {
namespace {

namespace fs = std::filesystem;

constexpr int kMessages = 3000;

[[noreturn]] void Die(const Status& status) {
  std::fprintf(stderr, "ingest_bench: %s\n", status.ToString().c_str());
  std::exit(1);
}

// A real face crop as an edge publishes it: 180x180 around an LFW face, JPEG 90.
const std::string& Crop() {
  static const std::string crop = [] {
    std::string jpeg = testing::FaceCrop("lfw/images/Colin_Powell/Colin_Powell_0038.jpg");
    if (jpeg.empty()) Die(Status::NotFound("face data missing under " + testing::TestDataDir()));
    return jpeg;
  }();
  return crop;
}

std::vector<Message> Messages(int n) {
  std::vector<Message> out;
  for (int i = 0; i < n; ++i) {
    const Sighting s = testing::MakeSighting(Crop());
    out.push_back({SightingTopic("concierge", s.site, s.camera), EncodeSighting(s), 1});
  }
  return out;
}

// Scratch data dirs, removed when the process exits rather than after each
// run: on ext4 without a journal, creating files among thousands just deleted
// costs the next run much CPU (the allocator skips recently freed inodes).
class ScratchDirs {
 public:
  ~ScratchDirs() {
    std::error_code ec;
    for (const fs::path& dir : dirs_) fs::remove_all(dir, ec);
  }
  fs::path Make() {
    const char* base = std::getenv("CONCIERGE_BENCH_DIR");
    dirs_.push_back(fs::path(base ? base : fs::temp_directory_path().string()) /
                    ("ingest-bench-" + std::to_string(NowMs()) + "-" +
                     std::to_string(dirs_.size())));
    return dirs_.back();
  }

 private:
  std::vector<fs::path> dirs_;
};
ScratchDirs scratch;

// A fresh data dir (see ScratchDirs) with the durable stores.
struct Stores {
  Stores() {
    dir = scratch.Make();
    auto opened = Database::OpenSqlite((dir / "concierge.db").string(), 5000);
    if (!opened.ok()) Die(opened.status());
    db = std::move(*opened);
    auto fs_store = FsObjectStore::Open((dir / "objects").string());
    if (!fs_store.ok()) Die(fs_store.status());
    objects = std::move(*fs_store);
    sightings = NewSqliteSightingStore(db.get());
  }
  fs::path dir;
  std::unique_ptr<Database> db;
  std::unique_ptr<FsObjectStore> objects;
  std::unique_ptr<SightingStore> sightings;
};

IngestOptions Options() {
  IngestOptions options;
  options.decode.max_payload_bytes = 4 * 1024 * 1024;
  return options;
}

// The whole stage, as the server's bus handlers run it: one thread (one
// connection), and 8, 16 or 32 at once (serve.ingest_connections, default 32:
// one delivery in flight per connection). Each waits mostly on the disk;
// concurrent directory fsyncs are shared and concurrent rows share one commit.
void BM_IngestDurable(benchmark::State& state) {
  spdlog::set_level(spdlog::level::warn);
  static std::unique_ptr<Stores> stores;
  static std::unique_ptr<IngestStage> ingest;
  if (state.thread_index() == 0) {
    stores = std::make_unique<Stores>();
    ingest = std::make_unique<IngestStage>(Options(), stores->objects.get(),
                                           stores->sightings.get(), nullptr);
  }
  const auto messages = Messages(kMessages / state.threads());
  size_t i = 0;
  for (auto _ : state) {  // starts when every thread got here, so setup is done
    auto result = ingest->Ingest(messages[i++ % messages.size()]);
    if (!result.ok()) Die(result.status());
    if (result->kind != IngestResult::Kind::kRecorded) Die(Status::Internal("not recorded"));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  if (state.thread_index() == 0) {
    ingest.reset();
    stores.reset();
  }
}
BENCHMARK(BM_IngestDurable)->Iterations(kMessages)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_IngestDurable)
    ->Iterations(kMessages / 8)
    ->Threads(8)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_IngestDurable)
    ->Iterations(kMessages / 16)
    ->Threads(16)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_IngestDurable)
    ->Iterations(kMessages / 32)
    ->Threads(32)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The whole stage behind a real mosquitto on loopback, as `serve` runs it:
// N connections (serve.ingest_connections) in one shared subscription, each
// holding one delivery in flight until ingest stored it, while an edge
// connection on the same box publishes the messages (QoS 1). The clock stops
// when the last one is recorded.
void BM_IngestOverMqtt(benchmark::State& state) {
  spdlog::set_level(spdlog::level::warn);
  testing::MosquittoBroker broker;
  if (Status s = broker.Start(); !s.ok()) Die(s);
  Stores stores;
  IngestStage ingest(Options(), stores.objects.get(), stores.sightings.get(), nullptr);
  const BusConfig bus = broker.MakeBusConfig();
  std::vector<std::unique_ptr<Bus>> members;
  std::vector<MqttBus*> connections;
  for (int64_t i = 0; i < state.range(0); ++i) {
    auto connection = MqttBus::Open(bus, "serve");
    if (!connection.ok()) Die(connection.status());
    connections.push_back(connection->get());
    members.push_back(std::move(*connection));
  }
  BusGroup serve(std::move(members));
  std::mutex mu;
  std::condition_variable all_recorded;
  int recorded = 0;
  const Status subscribed = serve.Subscribe(SightingFilter(bus), [&](const Message& m) {
    auto result = ingest.Ingest(m);
    if (!result.ok()) Die(result.status());
    if (result->kind != IngestResult::Kind::kRecorded) Die(Status::Internal("not recorded"));
    std::lock_guard lock(mu);
    if (++recorded == kMessages) all_recorded.notify_all();
    return Status::Ok();
  });
  if (!subscribed.ok()) Die(subscribed);
  for (MqttBus* connection : connections)
    if (Status s = connection->WaitSubscribed(std::chrono::seconds(60)); !s.ok()) Die(s);
  auto edge = MqttBus::Open(bus, "edge");
  if (!edge.ok()) Die(edge.status());
  if (Status s = (*edge)->WaitSubscribed(std::chrono::seconds(60)); !s.ok()) Die(s);
  const auto messages = Messages(kMessages);
  for (auto _ : state) {
    for (const Message& m : messages)
      if (Status s = (*edge)->Publish(m); !s.ok()) Die(s);
    std::unique_lock lock(mu);
    if (!all_recorded.wait_for(lock, std::chrono::minutes(10),
                               [&] { return recorded == kMessages; }))
      Die(Status::Unavailable(std::to_string(recorded) + " of the messages recorded in 10 min"));
  }
  state.SetItemsProcessed(kMessages);
  (*edge)->Stop();
  serve.Stop();
}
BENCHMARK(BM_IngestOverMqtt)
    ->Arg(8)
    ->Arg(32)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Validation only, as ingest does it: JSON, base64 and the JPEG's structure
// (segments, dimensions against the pixel limit, end marker).
void BM_ValidateOnly(benchmark::State& state) {
  const auto messages = Messages(64);
  size_t i = 0;
  for (auto _ : state) {
    auto s = DecodeSighting(messages[i++ % messages.size()].payload, {});
    if (!s.ok()) Die(s.status());
    auto header = CheckImageStructure(s->jpeg, {});
    if (!header.ok()) Die(header.status());
    benchmark::DoNotOptimize(header->width);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ValidateOnly)->Unit(benchmark::kMillisecond);

// The full decode ingest used to do (recognition still does it), for comparison.
void BM_DecodeOnly(benchmark::State& state) {
  size_t n = 0;
  for (auto _ : state) {
    auto image = DecodeImage(Crop(), {});
    if (!image.ok()) Die(image.status());
    n += image->total();
  }
  benchmark::DoNotOptimize(n);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_DecodeOnly)->Unit(benchmark::kMillisecond);

// The object write alone: temp file, fsync, rename, directory fsync.
void BM_ObjectPutOnly(benchmark::State& state) {
  Stores stores;
  int64_t i = 0;
  for (auto _ : state) {
    const Status put =
        stores.objects->Put("incoming/2026/11/24/" + std::to_string(i++) + ".jpg", Crop());
    if (!put.ok()) Die(put);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ObjectPutOnly)->Iterations(kMessages)->UseRealTime()->Unit(benchmark::kMillisecond);

// The row alone: one INSERT committed (and fsynced) in WAL mode.
void BM_RowInsertOnly(benchmark::State& state) {
  Stores stores;
  SightingRecord r;
  r.camera = "door";
  r.site = "office";
  r.captured_ms = NowMs();
  int64_t i = 0;
  for (auto _ : state) {
    r.id = "row-" + std::to_string(i++);
    r.image_key = "incoming/2026/11/24/" + r.id + ".jpg";
    auto inserted = stores.sightings->Insert(r);
    if (!inserted.ok()) Die(inserted.status());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_RowInsertOnly)->Iterations(kMessages)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace concierge

BENCHMARK_MAIN();
