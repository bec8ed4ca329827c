// Capture -> decision latency of the server stages: a sighting is published
// (its capture time), ingested durably, recognised (re-detect, landmarks,
// embed, anti-spoof, search), moved to known/ or unknown/ and recorded with its
// visit; the clock stops at the "sighting.decided" event. One sighting at a
// time, as a door camera sends them. Two transports: the in-process bus (the
// embedded `concierge run`) and a real mosquitto on loopback (edge and serve apart).
//   build/bench/latency_bench [--benchmark_filter=...]
// Face data: $CONCIERGE_TEST_DATA (default ../shared/data); models from the
// setup cache; /usr/sbin/mosquitto for the MQTT case.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include "bus/inprocess_bus.h"
#include "bus/mqtt_bus.h"
#include "core/clock.h"
#include "pipeline/events.h"
#include "pipeline/matcher.h"
#include "pipeline/server.h"
#include "store/fs_object_store.h"
#include "store/sqlite_sighting_store.h"
#include "support/mosquitto_fixture.h"
#include "support/sighting_crops.h"
#include "support/test_env.h"
#include "vision/image_io.h"

namespace concierge {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kSightings = 300;

[[noreturn]] void Die(const Status& status);

ModelPack LoadModelPackOrDie() {
  auto pack = LoadModelPack(DefaultModelsDir());
  if (!pack.ok()) Die(pack.status());
  return std::move(*pack);
}

[[noreturn]] void Die(const Status& status) {
  std::fprintf(stderr, "latency_bench: %s\n", status.ToString().c_str());
  std::exit(1);
}

// 180x180 JPEG crop around the face of an LFW photo, as an edge publishes it.
std::string Crop(const std::string& lfw_photo) {
  std::string crop = testing::FaceCrop("lfw/images/" + lfw_photo);
  if (crop.empty()) Die(Status::NotFound("face data missing under " + testing::TestDataDir()));
  return crop;
}

// The server with its stores in a scratch dir, and a stopwatch on its events.
class Pipeline {
 public:
  explicit Pipeline(bool mqtt) {
    dir_ = fs::temp_directory_path() / ("latency-bench-" + std::to_string(NowMs()));
    fs::create_directories(dir_);
    config_.data_dir = dir_.string();
    config_.vision.models_dir = DefaultModelsDir();
    auto db = Database::OpenSqlite(config_.DatabasePath(), 5000);
    if (!db.ok()) Die(db.status());
    db_ = std::move(*db);
    auto objects = FsObjectStore::Open(config_.ObjectRoot());
    if (!objects.ok()) Die(objects.status());
    objects_ = std::move(*objects);
    auto faces = FaceCollection::Open(db_.get(), "default", SpacesOf(LoadModelPackOrDie().embedders));
    if (!faces.ok()) Die(faces.status());
    faces_ = std::move(*faces);
    sightings_ = NewSqliteSightingStore(db_.get());
    Enroll("colin", "Colin_Powell/Colin_Powell_0038.jpg");
    events_.Subscribe([this](const Event& e) {
      const auto* s = std::get_if<SightingEvent>(&e);
      if (!s) return;
      std::lock_guard lock(mu_);
      (s->kind == SightingEvent::Kind::kDecided ? decided_ : recorded_)[s->sighting.id] =
          Clock::now();
      cv_.notify_all();
    });

    if (mqtt) {
      broker_ = std::make_unique<testing::MosquittoBroker>();
      if (Status s = broker_->Start(); !s.ok()) Die(s);
      config_.bus.kind = "mqtt";
      config_.bus.mqtt.port = broker_->port();
      config_.bus.mqtt.client_id = "latency-bench-serve";
    }
    auto server =
        Server::Start(config_, {sightings_.get(), objects_.get(), faces_.get(), &events_});
    if (!server.ok()) Die(server.status());
    server_ = std::move(*server);
    if (mqtt) {
      server_bus_ = OpenMqtt(config_.bus, "serve");
      BusConfig edge = config_.bus;
      edge.mqtt.client_id.clear();
      edge_bus_ = OpenMqtt(edge, "edge");
      edge_ = edge_bus_.get();
    } else {
      server_bus_ = std::make_unique<InProcessBus>(config_.bus.queue_capacity);
      edge_ = server_bus_.get();
    }
    if (Status s = server_->Subscribe(server_bus_.get()); !s.ok()) Die(s);
    if (mqtt) {
      if (Status s =
              static_cast<MqttBus*>(server_bus_.get())->WaitSubscribed(std::chrono::seconds(30));
          !s.ok())
        Die(s);
    }
  }
  ~Pipeline() {
    if (edge_bus_) edge_bus_->Stop();
    server_bus_->Stop();
    server_->Stop();
    events_.Stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Publishes one sighting of `crop` and returns seconds until it was decided.
  double Measure(const std::string& crop) {
    const Sighting s = testing::MakeSighting(crop);
    const auto captured = Clock::now();
    const Status published = edge_->Publish(
        {SightingTopic(config_.bus.topic_prefix, s.site, s.camera), EncodeSighting(s), 1});
    if (!published.ok()) Die(published);
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(60), [&] { return decided_.contains(s.id); }))
      Die(Status::Unavailable("sighting " + s.id + " was not decided within 60 s"));
    recorded_seconds.push_back(std::chrono::duration<double>(recorded_[s.id] - captured).count());
    return std::chrono::duration<double>(decided_[s.id] - captured).count();
  }

  std::vector<double> recorded_seconds;  // capture -> durably recorded (ingest done)

 private:
  // The broker already accepts connections (MosquittoBroker::Start waited).
  static std::unique_ptr<Bus> OpenMqtt(const BusConfig& config, const std::string& role) {
    auto bus = MqttBus::Open(config, role);
    if (!bus.ok()) Die(bus.status());
    if (Status s = (*bus)->WaitSubscribed(std::chrono::seconds(30)); !s.ok()) Die(s);
    return std::move(*bus);
  }

  void Enroll(const std::string& person, const std::string& photo) {
    auto engine = FaceEngine::Create(config_.vision);
    if (!engine.ok()) Die(engine.status());
    auto image = DecodeImage(Crop(photo), {});
    if (!image.ok()) Die(image.status());
    auto faces = (*engine)->Analyze(*image, {.embed = EmbedWith::kAll, .anti_spoof = false});
    if (!faces.ok() || faces->empty()) Die(Status::NoFace("cannot enroll " + photo));
    if (Status s = faces_->AddPerson({person, person, "", 0}); !s.ok()) Die(s);
    FaceRecord face;
    face.person_id = person;
    face.embeddings = (*faces)[0].embeddings;
    if (auto id = faces_->AddFace(face); !id.ok()) Die(id.status());
  }

  fs::path dir_;
  Config config_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<FsObjectStore> objects_;
  std::unique_ptr<FaceCollection> faces_;
  std::unique_ptr<SightingStore> sightings_;
  EventStream events_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<testing::MosquittoBroker> broker_;
  std::unique_ptr<Bus> server_bus_, edge_bus_;
  Bus* edge_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Clock::time_point> recorded_, decided_;
};

void Latency(benchmark::State& state, bool mqtt) {
  spdlog::set_level(spdlog::level::warn);
  Pipeline pipeline(mqtt);
  // A known face and a stranger in turn, so both decisions (and moves) are timed.
  const std::vector<std::string> crops = {Crop("Colin_Powell/Colin_Powell_0040.jpg"),
                                          Crop("Tony_Blair/Tony_Blair_0006.jpg")};
  pipeline.Measure(crops[0]);  // warm-up: first-inference allocations
  std::vector<double> seconds;
  for (auto _ : state) {
    seconds.push_back(pipeline.Measure(crops[seconds.size() % crops.size()]));
    state.SetIterationTime(seconds.back());
  }
  auto percentile = [](std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return 1000 * v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
  };
  state.counters["p50_ms"] = percentile(seconds, 0.50);
  state.counters["p99_ms"] = percentile(seconds, 0.99);
  state.counters["max_ms"] = percentile(seconds, 1.0);
  // Where the time goes: the first part is transport plus durable ingest.
  state.counters["recorded_p50_ms"] = percentile(pipeline.recorded_seconds, 0.50);
  state.counters["recorded_p99_ms"] = percentile(pipeline.recorded_seconds, 0.99);
}

void BM_CaptureToDecisionInProcess(benchmark::State& state) { Latency(state, false); }
void BM_CaptureToDecisionMqtt(benchmark::State& state) { Latency(state, true); }
BENCHMARK(BM_CaptureToDecisionInProcess)
    ->Iterations(kSightings)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CaptureToDecisionMqtt)
    ->Iterations(kSightings)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace concierge

BENCHMARK_MAIN();
