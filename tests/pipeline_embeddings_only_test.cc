// Embeddings-only mode (retention.embeddings_only) end to end in one process:
// real face crops go through ingest and recognition on an in-process bus, the
// notifier posts to a fake Slack, and the Trainer tags the stranger. No picture
// may be left in the object store; records, vectors, visits and questions stay.
// Switching the mode on for an install with pictures: the retention pass
// deletes them.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "bus/inprocess_bus.h"
#include "core/clock.h"
#include "notify/notifier.h"
#include "pipeline/enrol.h"
#include "pipeline/retention.h"
#include "pipeline/server.h"
#include "pipeline/train.h"
#include "store/audit_log.h"
#include "store/fs_object_store.h"
#include "store/sqlite_sighting_store.h"
#include "store/stranger_clusters.h"
#include "support/fake_slack.h"
#include "support/models.h"
#include "support/sighting_crops.h"
#include "support/test_env.h"
#include "vision/face_engine.h"
#include "vision/image_io.h"

namespace concierge {
namespace {

using namespace std::chrono_literals;
using testing::Eventually;
using testing::FakeSlack;

const char* kColin = "lfw/images/Colin_Powell/Colin_Powell_0038.jpg";
const char* kColinAgain = "lfw/images/Colin_Powell/Colin_Powell_0040.jpg";
const char* kStranger = "lfw/images/Tony_Blair/Tony_Blair_0006.jpg";
const char* kStrangerLater = "lfw/images/Tony_Blair/Tony_Blair_0064.jpg";

class EmbeddingsOnlyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TEST_DATA();
    config_.data_dir = dir_.path();
    config_.vision.models_dir = DefaultModelsDir();
    config_.serve.workers = 1;
    config_.retention.embeddings_only = true;
    NotifyConfig& n = config_.notify;
    n.slack_api_url = slack_.api_url();
    n.slack_bot_token = slack_.token();
    n.slack_channel = "C0CONCIERGE";
    n.backoff_initial_ms = 20;
    n.backoff_max_ms = 200;
    n.office_hours = "";
    n.greet_cooldown_min = 0;

    auto db = Database::OpenSqlite(config_.DatabasePath(), 5000);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
    auto objects = FsObjectStore::Open(config_.ObjectRoot());
    ASSERT_TRUE(objects.ok());
    objects_ = std::move(*objects);
    auto engine = FaceEngine::Create(config_.vision);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
    auto faces = FaceCollection::Open(db_.get(), "default", testing::ModelSpaces());
    ASSERT_TRUE(faces.ok());
    faces_ = std::move(*faces);
    sightings_ = NewSqliteSightingStore(db_.get());
    outbox_ = NewSqliteOutboxStore(db_.get());
    audit_ = NewSqliteAuditLog(db_.get());
    clusters_ = NewSqliteStrangerClusters(db_.get(), n.cluster_threshold, 3600000);
    slack_client_ = std::make_shared<SlackClient>(SlackClientOptionsFromConfig(n));
    trainer_ = std::make_unique<Trainer>(
        config_.quality, ImageLimits{},
        TrainerParts{engine_.get(), sightings_.get(), objects_.get(), faces_.get(), clusters_.get(),
                     audit_.get(), slack_client_.get()});
  }

  void TearDown() override {
    if (server_) StopPipeline();
  }

  void StartPipeline() {
    events_ = std::make_unique<EventStream>();
    auto notifier = Notifier::Create(
        config_, NotifierParts{outbox_.get(), sightings_.get(), objects_.get(), faces_.get(),
                               clusters_.get(), events_.get(), slack_client_});
    ASSERT_TRUE(notifier.ok()) << notifier.status().ToString();
    notifier_ = std::move(*notifier);
    trainer_->SetObserver(notifier_.get());
    notifier_->Listen();
    auto server =
        Server::Start(config_, {sightings_.get(), objects_.get(), faces_.get(), events_.get()});
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    trainer_->SetMatcher(server_->matcher());
    bus_ = std::make_unique<InProcessBus>(256);
    notifier_->Start(bus_.get());
    ASSERT_OK(server_->Subscribe(bus_.get()));
  }

  void StopPipeline() {
    trainer_->SetMatcher(nullptr);
    trainer_->SetObserver(nullptr);
    bus_->Stop();
    server_->Stop();
    events_->Stop();
    notifier_->Stop();
    bus_.reset();
    server_.reset();
    notifier_.reset();
  }

  // Enrols `photo` as `person` the way the API and the CLI do in the mode
  // configured (no picture in embeddings-only mode).
  void Enrol(const std::string& person, const std::string& external_id, const std::string& photo) {
    auto image = ReadImageFile(testing::DataPath(photo), {});
    ASSERT_TRUE(image.ok());
    ASSERT_OK(faces_->AddPerson({person, person, external_id, 0}));
    ObjectStore* pictures = config_.retention.embeddings_only ? nullptr : objects_.get();
    auto enrolled = EnrolPhoto({engine_.get(), faces_.get(), pictures, config_.quality},
                               {.person_id = person, .create_person = false}, *image);
    ASSERT_TRUE(enrolled.ok()) << enrolled.status().ToString();
  }

  std::string See(const std::string& photo, int64_t captured_ms) {
    const Sighting s =
        testing::MakeSighting(testing::FaceCrop(photo), "office", "door", captured_ms);
    const Status sent = bus_->Publish(
        {SightingTopic(config_.bus.topic_prefix, s.site, s.camera), EncodeSighting(s), 1});
    EXPECT_TRUE(sent.ok()) << sent.ToString();
    return s.id;
  }

  // Waits until every published sighting is decided and every notification delivered.
  void Settle() {
    ASSERT_OK(bus_->Flush(60s));
    ASSERT_TRUE(Eventually([&] {
      auto pending = sightings_->ListPending();
      return pending.ok() && pending->empty();
    }));
    ASSERT_OK(server_->WaitIdle(120s));
    events_->Stop();  // delivers what is queued
    ASSERT_TRUE(notifier_->outbox().WaitUntilIdle(60000));
  }

  SightingRecord Record(const std::string& id) {
    auto s = sightings_->Get(id);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : SightingRecord{};
  }

  std::vector<std::string> StoredObjects() {
    auto keys = objects_->List("");
    EXPECT_TRUE(keys.ok()) << keys.status().ToString();
    return keys.ok() ? *keys : std::vector<std::string>{};
  }

  std::vector<testing::FakeSlackMessage> MessagesContaining(const std::string& text) {
    std::vector<testing::FakeSlackMessage> out;
    for (const auto& m : slack_.Messages())
      if (m.text.find(text) != std::string::npos) out.push_back(m);
    return out;
  }

  testing::TempDir dir_;
  FakeSlack slack_;
  Config config_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<FsObjectStore> objects_;
  std::unique_ptr<FaceCollection> faces_;
  std::unique_ptr<SightingStore> sightings_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<StrangerClusters> clusters_;
  std::unique_ptr<OutboxStore> outbox_;
  std::shared_ptr<SlackClient> slack_client_;
  std::unique_ptr<FaceEngine> engine_;
  std::unique_ptr<Trainer> trainer_;
  std::unique_ptr<EventStream> events_;
  std::unique_ptr<Notifier> notifier_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<InProcessBus> bus_;
};

TEST_F(EmbeddingsOnlyTest, DecidedFacesKeepVectorsAndEventsButNoPicture) {
  Enrol("colin", "U0COLIN", kColin);
  StartPipeline();
  const int64_t t0 = NowMs() - 60000;
  const std::string known = See(kColinAgain, t0);
  const std::string stranger = See(kStranger, t0 + 1000);
  Settle();

  EXPECT_EQ(StoredObjects(), std::vector<std::string>{}) << "no picture outlives its decision";
  const SightingRecord k = Record(known);
  EXPECT_EQ(k.decision, Decision::kKnown);
  EXPECT_EQ(k.person_id.value_or(""), "colin");
  EXPECT_EQ(k.image_key, "");
  EXPECT_FALSE(k.embedding.empty());
  EXPECT_GT(k.quality.score, 0);
  EXPECT_TRUE(k.visit_id.has_value());
  const SightingRecord u = Record(stranger);
  EXPECT_EQ(u.decision, Decision::kUnknown);
  EXPECT_EQ(u.image_key, "");
  EXPECT_FALSE(u.embedding.empty());
  EXPECT_TRUE(u.visit_id.has_value());
  EXPECT_EQ(u.descriptor.size(), engine_->embedders().size()) << "every model's vector, to train";
  auto faces = faces_->ListFaces("colin");
  ASSERT_TRUE(faces.ok());
  ASSERT_FALSE(faces->empty());
  // The enrolled face, and one learned from the known sighting, keep only their vectors.
  for (const FaceRecord& f : *faces) {
    EXPECT_EQ(f.image_key, "") << f.id;
    EXPECT_EQ(f.embeddings.size(), engine_->embedders().size()) << f.id;
  }

  // Slack: the greeting and the question go as text with their buttons, no picture.
  const auto greetings = MessagesContaining("Welcome in, <@U0COLIN>!");
  ASSERT_EQ(greetings.size(), 1u);
  EXPECT_NE(greetings[0].blocks.dump().find("\"not_me\""), std::string::npos);
  const auto questions = MessagesContaining("I don't know who this is");
  ASSERT_EQ(questions.size(), 1u);
  const std::string question = questions[0].blocks.dump();
  EXPECT_NE(question.find("\"ignore\""), std::string::npos) << question;
  for (const auto& m : slack_.Messages())
    EXPECT_EQ(m.blocks.dump().find("\"image\""), std::string::npos) << m.blocks.dump();
  EXPECT_TRUE(slack_.Files().empty());

  // Tagging the stranger trains the person from the stored vectors.
  auto page = clusters_->List(ClusterState::kOpen, 10);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->items.size(), 1u);
  auto tagged = trainer_->TagCluster(page->items[0].id, {.display_name = "Tony Blair"}, "tester");
  ASSERT_TRUE(tagged.ok()) << tagged.status().ToString();
  EXPECT_EQ(tagged->faces_indexed, 1);
  auto trained = faces_->ListFaces(tagged->person_id);
  ASSERT_TRUE(trained.ok());
  ASSERT_EQ(trained->size(), 1u);
  EXPECT_EQ(trained->front().origin, FaceOrigin::kTagged);
  EXPECT_EQ(trained->front().sighting_id, stranger);
  EXPECT_EQ(trained->front().image_key, "");
  EXPECT_EQ(trained->front().embeddings.size(), engine_->embedders().size());
  EXPECT_EQ(Record(stranger).person_id.value_or(""), tagged->person_id);

  // A later photo of them is recognised, and again leaves no picture.
  StopPipeline();
  StartPipeline();
  const std::string later = See(kStrangerLater, NowMs());
  Settle();
  const SightingRecord l = Record(later);
  EXPECT_EQ(l.decision, Decision::kKnown);
  EXPECT_EQ(l.person_id.value_or(""), tagged->person_id);
  EXPECT_EQ(StoredObjects(), std::vector<std::string>{});
}

TEST_F(EmbeddingsOnlyTest, SwitchingTheModeOnDeletesThePicturesKeptBefore) {
  config_.retention.embeddings_only = false;
  Enrol("colin", "U0COLIN", kColin);
  StartPipeline();
  const int64_t t0 = NowMs() - 60000;
  const std::string known = See(kColinAgain, t0);
  const std::string stranger = See(kStranger, t0 + 1000);
  Settle();
  StopPipeline();
  // The enrolled face and both crops (and a face learned from Colin's, if any).
  const size_t kept = StoredObjects().size();
  ASSERT_GE(kept, 3u);
  ASSERT_NE(Record(known).image_key, "");

  config_.retention.embeddings_only = true;
  const RetentionParts parts{sightings_.get(), objects_.get(), faces_.get(),
                             clusters_.get(),  outbox_.get(),  audit_.get()};
  auto report = ApplyRetention(config_.retention, parts, NowMs());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->pictures, static_cast<int64_t>(kept));
  EXPECT_EQ(report->sightings, 0);
  EXPECT_EQ(StoredObjects(), std::vector<std::string>{});
  for (const std::string& id : {known, stranger}) {
    const SightingRecord s = Record(id);
    EXPECT_EQ(s.image_key, "") << id;
    EXPECT_FALSE(s.embedding.empty()) << id;
    EXPECT_TRUE(s.visit_id.has_value()) << id;
  }
  auto faces = faces_->ListFaces("colin");
  ASSERT_TRUE(faces.ok());
  ASSERT_FALSE(faces->empty());
  for (const FaceRecord& f : *faces) EXPECT_EQ(f.image_key, "") << f.id;
  // The vectors stay: Colin is still recognised, without a picture now.
  StartPipeline();
  const std::string again = See(kColinAgain, NowMs());
  Settle();
  EXPECT_EQ(Record(again).person_id.value_or(""), "colin");
  EXPECT_EQ(StoredObjects(), std::vector<std::string>{});

  auto repeat = ApplyRetention(config_.retention, parts, NowMs());
  ASSERT_TRUE(repeat.ok());
  EXPECT_EQ(repeat->pictures, 0);
}

}  // namespace
}  // namespace concierge
