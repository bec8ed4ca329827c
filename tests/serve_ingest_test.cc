// The server stages (ingest, recognise, visits, events) in this process on a
// real mosquitto broker: bad messages, redelivery, known and unknown faces,
// resuming after a crash at each step, and a broker outage under an edge's spool.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "bus/mqtt_bus.h"
#include "bus/spool.h"
#include "core/clock.h"
#include "core/metrics.h"
#include "pipeline/ingest.h"
#include "pipeline/recognise.h"
#include "pipeline/server.h"
#include "store/fs_object_store.h"
#include "store/sqlite_sighting_store.h"
#include "support/faulty_object_store.h"
#include "support/mosquitto_fixture.h"
#include "support/sighting_crops.h"
#include "support/models.h"
#include "support/test_env.h"
#include "vision/image_io.h"

namespace concierge {
namespace {

using namespace std::chrono_literals;
using testing::Eventually;
namespace fs = std::filesystem;
using testing::MosquittoBroker;
using testing::MosquittoOptions;

// A series of the process-wide registry as it stands (help texts are the stages').
double CounterValue(const std::string& name, const MetricLabels& labels) {
  return Metrics().counter(name, "", labels).value();
}
uint64_t HistogramCount(const std::string& name, const MetricLabels& labels = {}) {
  return Metrics().histogram(name, "", labels).count();
}

// The record ingest would have made of `s` before deciding it: its picture under incoming/.
SightingRecord PendingRecordOf(const Sighting& s) {
  SightingRecord r;
  r.id = s.id;
  r.camera = s.camera;
  r.site = s.site;
  r.captured_ms = s.captured_ms;
  r.image_key = SightingImageKey("incoming", s.id, s.captured_ms);
  return r;
}

const char* kEnrolled = "lfw/images/Colin_Powell/Colin_Powell_0038.jpg";
const char* kEnrolledAgain = "lfw/images/Colin_Powell/Colin_Powell_0040.jpg";
const char* kStranger = "lfw/images/Tony_Blair/Tony_Blair_0006.jpg";

// Everything a server stands on, in a temp data dir, plus its MQTT bus.
class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TEST_DATA();
    REQUIRE_MOSQUITTO();
    ASSERT_OK(broker_.Start());
    config_.data_dir = dir_.path();
    config_.vision.models_dir = DefaultModelsDir();
    config_.bus = broker_.MakeBusConfig("concierge-serve-test");
    config_.serve.workers = 2;
    auto db = Database::OpenSqlite(config_.DatabasePath(), 5000);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
    auto objects = FsObjectStore::Open(config_.ObjectRoot());
    ASSERT_TRUE(objects.ok()) << objects.status().ToString();
    objects_ = std::move(*objects);
    faulty_ = std::make_unique<testing::FaultyObjectStore>(objects_.get());
    auto faces = FaceCollection::Open(db_.get(), "default", testing::ModelSpaces());
    ASSERT_TRUE(faces.ok()) << faces.status().ToString();
    faces_ = std::move(*faces);
    sightings_ = NewSqliteSightingStore(db_.get());
    events_.Subscribe([this](const Event& e) {
      std::lock_guard lock(mu_);
      event_names_.push_back(EventName(e));
    });
  }

  void TearDown() override {
    StopServer();
    events_.Stop();  // before the members its listener touches go
  }

  void StartServer() {
    auto server =
        Server::Start(config_, {sightings_.get(), faulty_.get(), faces_.get(), &events_});
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    auto bus = MqttBus::Open(config_.bus, "serve");
    ASSERT_TRUE(bus.ok()) << bus.status().ToString();
    server_bus_ = std::move(*bus);
    ASSERT_OK(server_->Subscribe(server_bus_.get()));
    ASSERT_OK(server_bus_->WaitSubscribed(30s));
  }

  void StopServer() {
    if (server_) server_->StopIngesting();  // as `serve` does: handlers waiting on storage give up
    if (server_bus_) server_bus_->Stop();
    if (server_) server_->Stop();
  }

  // Enrolls the face in `photo` under `person` with the server's own engine.
  void Enroll(const std::string& person, const std::string& photo) {
    testing::EnrollPhoto(*faces_, config_.vision, person, "", photo);
  }

  std::unique_ptr<MqttBus> Publisher() {
    auto bus = MqttBus::Open(broker_.MakeBusConfig(), "edge");
    EXPECT_TRUE(bus.ok()) << bus.status().ToString();
    if (!bus.ok()) return nullptr;
    const Status connected = (*bus)->WaitSubscribed(30s);  // no subscriptions: waits to connect
    EXPECT_TRUE(connected.ok()) << connected.ToString();
    return std::move(*bus);
  }

  Message ToMessage(const Sighting& s) {
    return {SightingTopic(config_.bus.topic_prefix, s.site, s.camera), EncodeSighting(s), 1};
  }

  std::vector<SightingRecord> All() {
    auto list = sightings_->List({.limit = 0});
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    return list.ok() ? *list : std::vector<SightingRecord>{};
  }

  size_t Decided() {
    size_t n = 0;
    for (const auto& s : All()) n += s.decision != Decision::kPending;
    return n;
  }

  size_t CountEvents(const std::string& name) {
    std::lock_guard lock(mu_);
    return static_cast<size_t>(std::count(event_names_.begin(), event_names_.end(), name));
  }

  // Every sighting picture's key in the store (not the gallery's faces/).
  std::vector<std::string> Keys() {
    auto keys = objects_->List("");
    EXPECT_TRUE(keys.ok());
    std::vector<std::string> out;
    for (const auto& key : keys.ok() ? *keys : std::vector<std::string>{})
      if (key.rfind("faces/", 0) != 0) out.push_back(key);
    return out;
  }

  testing::TempDir dir_;
  MosquittoBroker broker_{MosquittoOptions{.persistence = true}};
  Config config_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<FsObjectStore> objects_;
  std::unique_ptr<testing::FaultyObjectStore> faulty_;  // the server's view of objects_
  std::unique_ptr<FaceCollection> faces_;
  std::unique_ptr<SightingStore> sightings_;
  EventStream events_;
  std::unique_ptr<MqttBus> server_bus_;
  std::unique_ptr<Server> server_;
  std::mutex mu_;
  std::vector<std::string> event_names_;
};

TEST_F(ServeTest, BadMessagesAreRejectedAndCountedAndTheNextGoodOneGoesThrough) {
  config_.serve.max_payload_bytes = 256 * 1024;
  StartServer();
  auto publisher = Publisher();
  ASSERT_TRUE(publisher);
  const std::string crop = testing::FaceCrop(kStranger);
  const Sighting good = testing::MakeSighting(crop);
  const std::string topic = ToMessage(good).topic;

  nlohmann::json missing = nlohmann::json::parse(EncodeSighting(good));
  missing.erase("captured_ms");
  nlohmann::json bad_base64 = nlohmann::json::parse(EncodeSighting(good));
  bad_base64["jpeg"] = "not*base64!";
  nlohmann::json out_of_range = nlohmann::json::parse(EncodeSighting(good));
  out_of_range["box"] = {0, 0, 1e308, -5};
  Sighting png = testing::MakeSighting("");
  {
    std::vector<uchar> bytes;
    cv::imencode(".png",
                 cv::imdecode(std::vector<uchar>(crop.begin(), crop.end()), cv::IMREAD_COLOR),
                 bytes);
    png.jpeg.assign(bytes.begin(), bytes.end());
  }
  Sighting huge = testing::MakeSighting(crop + std::string(300 * 1024, 'x'));
  Sighting path_id = testing::MakeSighting(crop);
  path_id.id = "../../etc";
  Sighting truncated = testing::MakeSighting(crop.substr(0, crop.size() / 2));
  Sighting wrong_topic = testing::MakeSighting(crop, "office", "back");
  Sighting face_outside = testing::MakeSighting(crop);
  face_outside.faces = {Box{10, 10, 5000, 5000}};
  nlohmann::json bad_human = nlohmann::json::parse(EncodeSighting(good));
  bad_human["human_score"] = 7;
  std::map<std::string, double> rejected_before;
  for (const char* reason : {"json", "schema", "base64", "image", "size", "topic"})
    rejected_before[reason] =
        CounterValue("concierge_rejected_messages_total", {{"reason", reason}});

  for (const std::string& payload :
       {std::string("this is not json {"), missing.dump(), bad_base64.dump(),
        out_of_range.dump(), EncodeSighting(png), EncodeSighting(huge), EncodeSighting(path_id),
        EncodeSighting(truncated), EncodeSighting(face_outside), bad_human.dump()})
    ASSERT_OK(publisher->Publish({topic, payload, 1}));
  ASSERT_OK(publisher->Publish({topic, EncodeSighting(wrong_topic), 1}));  // names "back"
  ASSERT_OK(publisher->Publish(ToMessage(good)));
  ASSERT_OK(publisher->Flush(30s));

  ASSERT_TRUE(Eventually([&] {
    return server_->Stats().recorded == 1 && server_->Stats().rejected == 11;
  })) << "recorded "
      << server_->Stats().recorded << ", rejected " << server_->Stats().rejected;
  const ServerStats stats = server_->Stats();
  const std::map<std::string, uint64_t> expected = {{"json", 1},  {"schema", 5}, {"base64", 1},
                                                    {"image", 2}, {"size", 1},   {"topic", 1}};
  EXPECT_EQ(stats.rejections, expected);
  for (const auto& [reason, count] : expected)
    EXPECT_EQ(CounterValue("concierge_rejected_messages_total", {{"reason", reason}}) -
                  rejected_before[reason],
              static_cast<double>(count))
        << reason;
  ASSERT_OK(server_->WaitIdle(120s));
  const auto all = All();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].id, good.id);
  EXPECT_EQ(all[0].decision, Decision::kUnknown);
  EXPECT_EQ(Keys(), std::vector<std::string>{all[0].image_key});
  EXPECT_FALSE(fs::exists(fs::path(dir_.path()) / "etc"));
}

// Ingest checks a crop's structure, not its pixels, so a crop whose
// entropy-coded data is garbage is stored; recognition then decodes it and
// rejects the sighting instead of failing or retrying, and goes on.
TEST_F(ServeTest, ACropWithGarbageImageDataIsStoredThenRejectedByRecognition) {
  StartServer();
  auto publisher = Publisher();
  ASSERT_TRUE(publisher);
  const std::string crop = testing::FaceCrop(kStranger);
  std::string garbage = crop;
  const size_t sos = garbage.find("\xFF\xDA");
  ASSERT_NE(sos, std::string::npos);
  const size_t data = sos + 2 + ((uint8_t(garbage[sos + 2]) << 8) | uint8_t(garbage[sos + 3]));
  std::mt19937 rng(5);
  for (size_t i = data; i + 2 < garbage.size(); ++i)
    garbage[i] = static_cast<char>(rng() % 0xFF);  // never 0xFF: no markers inside
  ASSERT_TRUE(CheckImageStructure(garbage, {}).ok());
  const Sighting bad = testing::MakeSighting(garbage);
  const Sighting good = testing::MakeSighting(crop);
  ASSERT_OK(publisher->Publish(ToMessage(bad)));
  ASSERT_OK(publisher->Publish(ToMessage(good)));
  ASSERT_OK(publisher->Flush(30s));
  ASSERT_TRUE(Eventually([&] { return Decided() == 2; })) << "decided " << Decided();
  ASSERT_OK(server_->WaitIdle(120s));
  auto stored_bad = sightings_->Get(bad.id);
  ASSERT_TRUE(stored_bad.ok()) << stored_bad.status().ToString();
  EXPECT_EQ(stored_bad->decision, Decision::kRejected);
  auto stored_good = sightings_->Get(good.id);
  ASSERT_TRUE(stored_good.ok());
  EXPECT_EQ(stored_good->decision, Decision::kUnknown);
  EXPECT_EQ(server_->Stats().recorded, 2u);
}

TEST_F(ServeTest, ASightingPublishedThreeTimesIsRecordedOnce) {
  StartServer();
  auto publisher = Publisher();
  ASSERT_TRUE(publisher);
  const Message m = ToMessage(testing::MakeSighting(testing::FaceCrop(kStranger)));
  for (int i = 0; i < 3; ++i) ASSERT_OK(publisher->Publish(m));
  ASSERT_OK(publisher->Flush(30s));
  ASSERT_TRUE(
      Eventually([&] { return server_->Stats().recorded + server_->Stats().duplicates == 3; }));
  ASSERT_OK(server_->WaitIdle(120s));
  EXPECT_EQ(server_->Stats().recorded, 1u);
  EXPECT_EQ(server_->Stats().duplicates, 2u);
  EXPECT_EQ(All().size(), 1u);
  EXPECT_EQ(Keys().size(), 1u);
  StopServer();
  events_.Stop();
  EXPECT_EQ(CountEvents("sighting.recorded"), 1u);
  EXPECT_EQ(CountEvents("sighting.decided"), 1u);
  EXPECT_EQ(CountEvents("visit.started"), 1u);
}

TEST_F(ServeTest, NamesTheEnrolledPersonFilesPicturesAndJoinsCamerasIntoOneVisit) {
  Enroll("colin", kEnrolled);
  const auto known = [](const char* camera) {
    return CounterValue("concierge_sightings_total", {{"camera", camera}, {"decision", "known"}});
  };
  const MetricLabels front_unknown = {{"camera", "front"}, {"decision", "unknown"}};
  const double known_front = known("front"), known_back = known("back"),
               unknown_front = CounterValue("concierge_sightings_total", front_unknown);
  const uint64_t ingested = HistogramCount("concierge_stage_seconds", {{"stage", "ingest"}}),
                 recognised = HistogramCount("concierge_stage_seconds", {{"stage", "recognise"}}),
                 end_to_end = HistogramCount("concierge_capture_to_decision_seconds");
  StartServer();
  EXPECT_EQ(Metrics().gauge("concierge_gallery_people", "").value(), 1);
  EXPECT_EQ(Metrics().gauge("concierge_gallery_faces", "").value(), 1);
  auto publisher = Publisher();
  ASSERT_TRUE(publisher);
  const Sighting front =
      testing::MakeSighting(testing::FaceCrop(kEnrolledAgain), "office", "front");
  const Sighting back = testing::MakeSighting(testing::FaceCrop(kEnrolledAgain), "office", "back",
                                              front.captured_ms + 20'000);
  const Sighting stranger = testing::MakeSighting(testing::FaceCrop(kStranger), "office", "front");
  for (const auto& s : {front, back, stranger}) ASSERT_OK(publisher->Publish(ToMessage(s)));
  ASSERT_OK(publisher->Flush(30s));
  ASSERT_TRUE(Eventually([&] { return Decided() == 3; }));
  ASSERT_OK(server_->WaitIdle(120s));  // the stages count a sighting after recording it

  auto f = sightings_->Get(front.id), b = sightings_->Get(back.id),
       x = sightings_->Get(stranger.id);
  ASSERT_TRUE(f.ok() && b.ok() && x.ok());
  EXPECT_EQ(f->decision, Decision::kKnown);
  EXPECT_EQ(f->person_id, "colin");
  const Calibration calibration = server_->matcher()->calibration();
  EXPECT_GE(f->similarity.value_or(0), calibration.primary_threshold - calibration.band_below);
  EXPECT_EQ(f->image_key, SightingImageKey("known/colin", front.id, front.captured_ms));
  EXPECT_GE(f->live_score, 0);
  EXPECT_EQ(f->embedding.size(), 512u);
  EXPECT_EQ(b->person_id, "colin");
  ASSERT_TRUE(f->visit_id.has_value());
  EXPECT_EQ(b->visit_id, f->visit_id);  // two cameras, one visit

  EXPECT_EQ(x->decision, Decision::kUnknown);
  EXPECT_FALSE(x->person_id.has_value());
  EXPECT_LT(x->similarity.value_or(-1), calibration.primary_threshold + calibration.band_above);
  EXPECT_EQ(x->image_key, SightingImageKey("unknown", stranger.id, stranger.captured_ms));
  ASSERT_TRUE(x->visit_id.has_value());
  EXPECT_NE(x->visit_id, f->visit_id);

  EXPECT_EQ(known("front") - known_front, 1);
  EXPECT_EQ(known("back") - known_back, 1);
  EXPECT_EQ(CounterValue("concierge_sightings_total", front_unknown) - unknown_front, 1);
  EXPECT_EQ(HistogramCount("concierge_stage_seconds", {{"stage", "ingest"}}) - ingested, 3u);
  EXPECT_GE(HistogramCount("concierge_stage_seconds", {{"stage", "recognise"}}) - recognised, 3u);
  EXPECT_EQ(HistogramCount("concierge_capture_to_decision_seconds") - end_to_end, 3u);

  auto visit = sightings_->GetVisit(*f->visit_id);
  ASSERT_TRUE(visit.ok());
  EXPECT_EQ(visit->sightings, 2);
  EXPECT_EQ(visit->person_id, "colin");
  // Every picture moved out of incoming/ and still decodes.
  for (const auto& key : Keys()) {
    EXPECT_NE(key.rfind("incoming/", 0), 0u) << key;
    auto bytes = objects_->Get(key);
    ASSERT_TRUE(bytes.ok());
    EXPECT_TRUE(DecodeImage(*bytes, {}).ok()) << key;
  }
}

TEST_F(ServeTest, ResumesSightingsACrashLeftAtEveryStep) {
  Enroll("colin", kEnrolled);
  const std::string known_crop = testing::FaceCrop(kEnrolledAgain);
  const std::string stranger_crop = testing::FaceCrop(kStranger);
  // As a crash would leave them: before the move, after a move to unknown/,
  // after a move to known/<person>/, all still pending in the database.
  struct Case {
    std::string crop, stored_under, expect_key_prefix;
  };
  const std::vector<Case> cases = {{known_crop, "incoming", "known/colin"},
                                   {stranger_crop, "unknown", "unknown"},
                                   {known_crop, "known/colin", "known/colin"}};
  std::vector<Sighting> made;
  for (const auto& c : cases) {
    const Sighting s = testing::MakeSighting(c.crop);
    const SightingRecord r = PendingRecordOf(s);
    ASSERT_OK(objects_->Put(SightingImageKey(c.stored_under, s.id, s.captured_ms), s.jpeg));
    ASSERT_TRUE(sightings_->Insert(r).ok());
    made.push_back(s);
  }
  StartServer();  // resumes the pending ones before anything arrives
  ASSERT_TRUE(Eventually([&] { return Decided() == cases.size(); }));
  for (size_t i = 0; i < cases.size(); ++i) {
    auto s = sightings_->Get(made[i].id);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->image_key,
              SightingImageKey(cases[i].expect_key_prefix, made[i].id, made[i].captured_ms))
        << "case " << i;
  }
  EXPECT_EQ(Keys().size(), cases.size());  // moved, never copied
}

TEST_F(ServeTest, StorageTroubleHoldsSightingsUnacknowledgedUntilStorageIsBack) {
  StartServer();
  auto publisher = Publisher();
  ASSERT_TRUE(publisher);
  faulty_->FailWrites(Status::IoError("No space left on device"));
  const Sighting first = testing::MakeSighting(testing::FaceCrop(kStranger));
  const Sighting second = testing::MakeSighting(testing::FaceCrop(kEnrolled));
  ASSERT_OK(publisher->Publish(ToMessage(first)));
  ASSERT_OK(publisher->Publish(ToMessage(second)));
  ASSERT_OK(publisher->Flush(30s));
  ASSERT_TRUE(Eventually([&] { return faulty_->failed_writes() > 0; }));
  EXPECT_EQ(server_->StorageStatus().code(), Status::Code::kUnavailable);

  // Longer than any give-up: the message stays unacknowledged and unreported,
  // and the second is not taken meanwhile (one in flight per connection).
  const auto outage_end = std::chrono::steady_clock::now() + 40s;
  while (std::chrono::steady_clock::now() < outage_end) {
    ASSERT_EQ(server_bus_->Stats().handler_errors, 0u) << "ingest gave up on a sighting";
    ASSERT_EQ(server_->Stats().recorded, 0u);
    std::this_thread::sleep_for(500ms);
  }
  const uint64_t attempts = faulty_->failed_writes();
  EXPECT_LT(attempts, 40u) << "retries back off";

  faulty_->FailWrites(Status::Ok());
  ASSERT_TRUE(Eventually([&] { return server_->Stats().recorded == 2; }));
  ASSERT_OK(server_->WaitIdle(120s));
  EXPECT_TRUE(server_->StorageStatus().ok()) << server_->StorageStatus().ToString();
  EXPECT_EQ(server_bus_->Stats().handler_errors, 0u);
  EXPECT_EQ(Decided(), 2u);
}

TEST_F(ServeTest, AServerStoppedDuringStorageTroubleLeavesTheSightingWithTheBroker) {
  StartServer();
  auto publisher = Publisher();
  ASSERT_TRUE(publisher);
  faulty_->FailWrites(Status::Unavailable("the object store is down"));
  const Sighting s = testing::MakeSighting(testing::FaceCrop(kStranger));
  ASSERT_OK(publisher->Publish(ToMessage(s)));
  ASSERT_OK(publisher->Flush(30s));
  ASSERT_TRUE(Eventually([&] { return faulty_->failed_writes() > 0; }));
  StopServer();  // returns although storage is still down
  EXPECT_TRUE(All().empty());

  faulty_->FailWrites(Status::Ok());
  StartServer();  // the same client id: the broker still holds the sighting
  ASSERT_TRUE(Eventually([&] { return Decided() == 1; }));
  EXPECT_EQ(All().front().id, s.id);
}

TEST_F(ServeTest, EverySightingRowNamesAPictureThatExistsAtEveryStepOfDeciding) {
  Enroll("colin", kEnrolled);
  faulty_->PauseAfterEachWrite(true);
  StartServer();
  auto publisher = Publisher();
  ASSERT_TRUE(publisher);
  for (const char* photo : {kEnrolledAgain, kStranger})
    ASSERT_OK(publisher->Publish(ToMessage(testing::MakeSighting(testing::FaceCrop(photo)))));
  ASSERT_OK(publisher->Flush(30s));
  // Each write is where a SIGKILL could land: what is stored then must be consistent.
  int steps = 0;
  const auto give_up = std::chrono::steady_clock::now() + 300s;
  while (std::chrono::steady_clock::now() < give_up) {
    if (!faulty_->WaitPaused(500ms)) {
      if (Decided() == 2 && server_->WaitIdle(0ms).ok()) break;
      continue;
    }
    for (const auto& row : All()) {
      auto there = objects_->Exists(row.image_key);
      ASSERT_TRUE(there.ok());
      EXPECT_TRUE(*there) << "after write " << steps << " sighting " << row.id << " ("
                          << ToString(row.decision) << ") names missing " << row.image_key;
    }
    ++steps;
    faulty_->Step();
  }
  faulty_->PauseAfterEachWrite(false);
  ASSERT_OK(server_->WaitIdle(120s));
  EXPECT_GE(steps, 4);  // two stored, two decided
  EXPECT_EQ(Decided(), 2u);
  EXPECT_EQ(Keys().size(), 2u);  // nothing left in incoming/
  for (const auto& key : Keys()) EXPECT_NE(key.rfind("incoming/", 0), 0u) << key;
}

TEST_F(ServeTest, APictureACrashLeftBehindInIncomingIsRemovedAtStart) {
  const Sighting s = testing::MakeSighting(testing::FaceCrop(kStranger));
  const SightingRecord r = PendingRecordOf(s);
  ASSERT_TRUE(sightings_->Insert(r).ok());
  SightingOutcome decided;
  decided.id = s.id;
  decided.decision = Decision::kUnknown;
  decided.image_key = SightingImageKey("unknown", s.id, s.captured_ms);
  ASSERT_TRUE(sightings_->RecordDecision(decided, VisitChoice{}).ok());
  // Copied and recorded; the crash came before the incoming/ copy was deleted.
  ASSERT_OK(objects_->Put(r.image_key, s.jpeg));
  ASSERT_OK(objects_->Put(decided.image_key, s.jpeg));
  StartServer();
  EXPECT_EQ(Keys(), std::vector<std::string>{decided.image_key});
}

TEST_F(ServeTest, AnEdgeSpoolCarriesSightingsThroughABrokerOutage) {
  constexpr int kSightings = 500;
  StartServer();
  auto edge_bus = Publisher();
  ASSERT_TRUE(edge_bus);
  auto spool = SpooledPublisher::Open(edge_bus.get(), dir_.Sub("spool"), 512LL * 1024 * 1024);
  ASSERT_TRUE(spool.ok()) << spool.status().ToString();
  const auto crops = testing::LfwFaceCrops(10);
  ASSERT_EQ(crops.size(), 10u);

  ASSERT_OK(broker_.Stop());
  const auto outage_started = std::chrono::steady_clock::now();
  std::set<std::string> ids;
  for (int i = 0; i < kSightings; ++i) {
    const Sighting s = testing::MakeSighting(crops[static_cast<size_t>(i) % crops.size()]);
    ids.insert(s.id);
    ASSERT_OK((*spool)->Publish(ToMessage(s)));
  }
  // Keep the broker down a few seconds, so both sides see a real outage.
  std::this_thread::sleep_until(outage_started + 3s);
  ASSERT_OK(broker_.Start());

  ASSERT_OK((*spool)->Drain(180s));
  ASSERT_TRUE(Eventually([&] { return All().size() == kSightings; }, 180s))
      << All().size() << " of " << kSightings << " recorded";
  ASSERT_OK(server_->WaitIdle(300s));
  std::set<std::string> recorded;
  for (const auto& s : All()) {
    recorded.insert(s.id);
    EXPECT_NE(s.decision, Decision::kPending);
  }
  EXPECT_EQ(recorded, ids);
}

}  // namespace
}  // namespace concierge
