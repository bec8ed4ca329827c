// Embeddings-only mode (retention.embeddings_only) end to end in one process:
// real face crops go through ingest and recognition on an in-process bus, the
// notifier posts to a fake Slack, and the Trainer tags the stranger. No picture
// may be left in the object store; records, vectors, visits and questions stay.
// Switching the mode on for an install with pictures: the retention pass
// deletes them.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "pipeline/enrol.h"
#include "pipeline/retention.h"
#include "pipeline/train.h"
#include "store/stranger_clusters.h"
#include "support/fake_slack.h"
#include "support/notifier_parts.h"
#include "support/test_env.h"
#include "vision/face_engine.h"
#include "vision/image_io.h"

namespace concierge {
namespace {

using testing::FakeSlack;
using testing::MessagesContaining;

const char* kColin = "lfw/images/Colin_Powell/Colin_Powell_0038.jpg";
const char* kColinAgain = "lfw/images/Colin_Powell/Colin_Powell_0040.jpg";
const char* kStranger = "lfw/images/Tony_Blair/Tony_Blair_0006.jpg";
const char* kStrangerLater = "lfw/images/Tony_Blair/Tony_Blair_0064.jpg";

class EmbeddingsOnlyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TEST_DATA();
    config_ = testing::NotifierTestConfig(dir_.path(), slack_);
    config_.retention.embeddings_only = true;
    ASSERT_OK(pipeline_.Open());
  }

  void TearDown() override { pipeline_.Stop(); }

  // Enrols `photo` as `person` the way the API and the CLI do in the mode
  // configured (no picture in embeddings-only mode).
  void Enrol(const std::string& person, const std::string& external_id, const std::string& photo) {
    auto image = ReadImageFile(testing::DataPath(photo), {});
    ASSERT_TRUE(image.ok());
    ASSERT_OK(stores().faces->AddPerson({person, person, external_id, 0}));
    ObjectStore* pictures = config_.retention.embeddings_only ? nullptr : stores().objects.get();
    auto enrolled =
        EnrolPhoto({pipeline_.engine.get(), stores().faces.get(), pictures, config_.quality},
                   {.person_id = person, .create_person = false}, *image);
    ASSERT_TRUE(enrolled.ok()) << enrolled.status().ToString();
  }

  // Enrols Colin from one photo, starts the pipeline and shows it another
  // photo of him (`known`) and, a second later, a stranger (`stranger`).
  void SeeColinAndAStranger(std::string* known, std::string* stranger) {
    Enrol("colin", "U0COLIN", kColin);
    pipeline_.Start();
    const int64_t t0 = NowMs() - 60000;
    *known = pipeline_.See(kColinAgain, t0);
    *stranger = pipeline_.See(kStranger, t0 + 1000);
    pipeline_.Settle();
  }

  std::vector<std::string> StoredObjects() {
    auto keys = stores().objects->List("");
    EXPECT_TRUE(keys.ok()) << keys.status().ToString();
    return keys.ok() ? *keys : std::vector<std::string>{};
  }

  testing::NotifierStores& stores() { return pipeline_.stores; }

  testing::TempDir dir_;
  FakeSlack slack_;
  Config config_;
  testing::OneProcessPipeline pipeline_{config_};
};

TEST_F(EmbeddingsOnlyTest, DecidedFacesKeepVectorsAndEventsButNoPicture) {
  std::string known, stranger;
  ASSERT_NO_FATAL_FAILURE(SeeColinAndAStranger(&known, &stranger));

  EXPECT_EQ(StoredObjects(), std::vector<std::string>{}) << "no picture outlives its decision";
  const SightingRecord k = pipeline_.Record(known);
  EXPECT_EQ(k.decision, Decision::kKnown);
  EXPECT_EQ(k.person_id.value_or(""), "colin");
  EXPECT_EQ(k.image_key, "");
  EXPECT_FALSE(k.embedding.empty());
  EXPECT_GT(k.quality.score, 0);
  EXPECT_TRUE(k.visit_id.has_value());
  const SightingRecord u = pipeline_.Record(stranger);
  EXPECT_EQ(u.decision, Decision::kUnknown);
  EXPECT_EQ(u.image_key, "");
  EXPECT_FALSE(u.embedding.empty());
  EXPECT_TRUE(u.visit_id.has_value());
  EXPECT_EQ(u.descriptor.size(), pipeline_.engine->embedders().size())
      << "every model's vector, to train";
  auto faces = stores().faces->ListFaces("colin");
  ASSERT_TRUE(faces.ok());
  ASSERT_FALSE(faces->empty());
  // The enrolled face, and one learned from the known sighting, keep only their vectors.
  for (const FaceRecord& f : *faces) {
    EXPECT_EQ(f.image_key, "") << f.id;
    EXPECT_EQ(f.embeddings.size(), pipeline_.engine->embedders().size()) << f.id;
  }

  // Slack: the greeting and the question go as text with their buttons, no picture.
  const auto greetings = MessagesContaining(slack_, "Welcome in, <@U0COLIN>!");
  ASSERT_EQ(greetings.size(), 1u);
  EXPECT_NE(greetings[0].blocks.dump().find("\"not_me\""), std::string::npos);
  const auto questions = MessagesContaining(slack_, "I don't know who this is");
  ASSERT_EQ(questions.size(), 1u);
  const std::string question = questions[0].blocks.dump();
  EXPECT_NE(question.find("\"ignore\""), std::string::npos) << question;
  for (const auto& m : slack_.Messages())
    EXPECT_EQ(m.blocks.dump().find("\"image\""), std::string::npos) << m.blocks.dump();
  EXPECT_TRUE(slack_.Files().empty());

  // Tagging the stranger trains the person from the stored vectors.
  auto page = stores().clusters->List(ClusterState::kOpen, 10);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->items.size(), 1u);
  auto tagged =
      pipeline_.trainer->TagCluster(page->items[0].id, {.display_name = "Tony Blair"}, "tester");
  ASSERT_TRUE(tagged.ok()) << tagged.status().ToString();
  EXPECT_EQ(tagged->faces_indexed, 1);
  auto trained = stores().faces->ListFaces(tagged->person_id);
  ASSERT_TRUE(trained.ok());
  ASSERT_EQ(trained->size(), 1u);
  EXPECT_EQ(trained->front().origin, FaceOrigin::kTagged);
  EXPECT_EQ(trained->front().sighting_id, stranger);
  EXPECT_EQ(trained->front().image_key, "");
  EXPECT_EQ(trained->front().embeddings.size(), pipeline_.engine->embedders().size());
  EXPECT_EQ(pipeline_.Record(stranger).person_id.value_or(""), tagged->person_id);

  // A later photo of them is recognised, and again leaves no picture.
  pipeline_.Stop();
  pipeline_.Start();
  const std::string later = pipeline_.See(kStrangerLater, NowMs());
  pipeline_.Settle();
  const SightingRecord l = pipeline_.Record(later);
  EXPECT_EQ(l.decision, Decision::kKnown);
  EXPECT_EQ(l.person_id.value_or(""), tagged->person_id);
  EXPECT_EQ(StoredObjects(), std::vector<std::string>{});
}

TEST_F(EmbeddingsOnlyTest, SwitchingTheModeOnDeletesThePicturesKeptBefore) {
  config_.retention.embeddings_only = false;
  std::string known, stranger;
  ASSERT_NO_FATAL_FAILURE(SeeColinAndAStranger(&known, &stranger));
  pipeline_.Stop();
  // The enrolled face and both crops (and a face learned from Colin's, if any).
  const size_t kept = StoredObjects().size();
  ASSERT_GE(kept, 3u);
  ASSERT_NE(pipeline_.Record(known).image_key, "");

  config_.retention.embeddings_only = true;
  const RetentionParts parts{stores().sightings.get(), stores().objects.get(),
                             stores().faces.get(),     stores().clusters.get(),
                             stores().outbox.get(),    stores().audit.get()};
  auto report = ApplyRetention(config_.retention, parts, NowMs());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->pictures, static_cast<int64_t>(kept));
  EXPECT_EQ(report->sightings, 0);
  EXPECT_EQ(StoredObjects(), std::vector<std::string>{});
  for (const std::string& id : {known, stranger}) {
    const SightingRecord s = pipeline_.Record(id);
    EXPECT_EQ(s.image_key, "") << id;
    EXPECT_FALSE(s.embedding.empty()) << id;
    EXPECT_TRUE(s.visit_id.has_value()) << id;
  }
  auto faces = stores().faces->ListFaces("colin");
  ASSERT_TRUE(faces.ok());
  ASSERT_FALSE(faces->empty());
  for (const FaceRecord& f : *faces) EXPECT_EQ(f.image_key, "") << f.id;
  // The vectors stay: Colin is still recognised, without a picture now.
  pipeline_.Start();
  const std::string again = pipeline_.See(kColinAgain, NowMs());
  pipeline_.Settle();
  EXPECT_EQ(pipeline_.Record(again).person_id.value_or(""), "colin");
  EXPECT_EQ(StoredObjects(), std::vector<std::string>{});

  auto repeat = ApplyRetention(config_.retention, parts, NowMs());
  ASSERT_TRUE(repeat.ok());
  EXPECT_EQ(repeat->pictures, 0);
}

}  // namespace
}  // namespace concierge
