// What the recognition core promises, on real photos: only human faces ever
// become anything; the threshold follows the gallery; the gallery learns
// within its cap; and after a model change `reindex` leaves no vector of the
// old model in use.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "pipeline/gallery.h"
#include "pipeline/matcher.h"
#include "store/database.h"
#include "store/face_collection.h"
#include "store/object_store.h"
#include "support/models.h"
#include "support/shared_face_engine.h"
#include "support/test_env.h"
#include "vision/face_engine.h"
#include "vision/image_io.h"
#include "vision/model_pack.h"

namespace concierge {
namespace {

namespace fs = std::filesystem;
using testing::DataPath;

constexpr const char* kNegatives = "negatives/imagenet_samples";
constexpr const char* kExamples = "enroll/face_recognition/examples/";

std::vector<std::string> FilesIn(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

// The largest human face of a photo, described by `embed`; nullopt when none.
std::optional<FaceObservation> LargestFace(FaceEngine& engine, const cv::Mat& image,
                                           EmbedWith embed) {
  auto faces = engine.Analyze(image, {.embed = embed, .anti_spoof = true});
  if (!faces.ok()) return std::nullopt;
  std::optional<FaceObservation> best;
  for (auto& f : *faces)
    if (f.human && (!best || f.box.w * f.box.h > best->box.w * best->box.h)) best = std::move(f);
  return best;
}

class RecognitionTest : public testing::SharedFaceEngineTest {
 protected:
  void SetUp() override {
    REQUIRE_TEST_DATA();
    ASSERT_NE(engine_, nullptr) << "the model pack did not load: " << engine_status_.ToString();
    auto db = Database::OpenSqlite(dir_.Sub("concierge.db"), 5000);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
    auto faces = FaceCollection::Open(db_.get(), "default", testing::ModelSpaces());
    ASSERT_TRUE(faces.ok()) << faces.status().ToString();
    faces_ = std::move(*faces);
    auto objects = OpenObjectStore({}, dir_.Sub("objects"));
    ASSERT_TRUE(objects.ok()) << objects.status().ToString();
    objects_ = std::move(*objects);
  }

  // Enrols the largest face of `photo` as `person`; returns the face id.
  int64_t Enrol(const std::string& person, const std::string& photo) {
    EXPECT_TRUE(faces_->AddPerson({.id = person, .display_name = person}).ok());
    auto image = ReadImageFile(photo, {});
    EXPECT_TRUE(image.ok()) << photo;
    if (!image.ok()) return 0;
    auto face = LargestFace(*engine_, *image, EmbedWith::kPrimary);
    EXPECT_TRUE(face.has_value()) << photo;
    if (!face) return 0;
    auto id = AddGalleryFace(*engine_, objects_.get(), *faces_, person, *image, *face,
                             FaceOrigin::kEnrolled);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }

  // The first photo of each of the first `count` LFW people (sorted by name).
  static std::vector<std::pair<std::string, std::string>> LfwPeople(size_t count) {
    std::vector<std::pair<std::string, std::string>> people;
    std::vector<fs::path> dirs;
    for (const auto& e : fs::directory_iterator(DataPath("lfw/images"))) dirs.push_back(e.path());
    std::sort(dirs.begin(), dirs.end());
    for (const auto& d : dirs) {
      if (people.size() == count) break;
      const auto files = FilesIn(d.string());
      if (!files.empty()) people.emplace_back(d.filename().string(), files.front());
    }
    return people;
  }

  testing::TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<FaceCollection> faces_;
  std::unique_ptr<ObjectStore> objects_;
};


TEST_F(RecognitionTest, NoAnimalFoodOrLandscapePhotoHoldsAHumanFace) {
  size_t photos = 0, detections = 0;
  for (const auto& path : FilesIn(DataPath(kNegatives))) {
    SCOPED_TRACE(path);
    auto image = ReadImageFile(path, {});
    ASSERT_TRUE(image.ok()) << image.status().ToString();
    auto faces = engine_->Analyze(*image, {.embed = EmbedWith::kNone, .anti_spoof = false});
    ASSERT_TRUE(faces.ok()) << faces.status().ToString();
    ++photos;
    detections += faces->size();
    for (const auto& f : *faces) EXPECT_FALSE(f.human) << "human score " << f.human_score;
  }
  EXPECT_EQ(photos, 116u);
  // The detector alone does find "faces" here: the check is what refuses them.
  EXPECT_GT(detections, 0u);
}

TEST_F(RecognitionTest, AChihuahuaIsNotEnrolledAndAnimalPhotosNeverBecomeSightings) {
  const std::string data = dir_.Sub("cli");
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {testing::BinaryPath(), "--data-dir", data, "--log-level", "warn"});
    return testing::RunCommand(args);
  };
  const auto enrol = run({"enroll", "--person", "bella", DataPath(kNegatives) +
                                                            "/n02085620_Chihuahua.JPEG"});
  EXPECT_EQ(enrol.exit_code, 4) << enrol.out << enrol.err;
  EXPECT_NE(enrol.out.find("not a human face"), std::string::npos) << enrol.out;
  const auto people = run({"people", "list", "--json"});
  // 3: the refused photo left no collection behind at all.
  EXPECT_TRUE(people.exit_code == 0 || people.exit_code == 3) << people.err;
  EXPECT_EQ(people.out.find("bella"), std::string::npos) << people.out;

  // Every animal (ImageNet's n01-n02 classes) through the edge and the server.
  const std::string animals = dir_.Sub("animals");
  fs::create_directories(animals);
  size_t copied = 0;
  for (const auto& path : FilesIn(DataPath(kNegatives)))
    if (fs::path(path).filename().string().rfind("n02", 0) == 0) {
      fs::copy_file(path, fs::path(animals) / fs::path(path).filename());
      ++copied;
    }
  ASSERT_GE(copied, 50u);
  const auto r = run({"run", "--once", "--source", animals});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto listed = run({"sightings", "--json", "--limit", "0"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(nlohmann::json::parse(listed.out)["sightings"].size(), 0u) << listed.out;
}

TEST_F(RecognitionTest, TheCalibratedThresholdRisesAsTheGalleryGrows) {
  const auto people = LfwPeople(120);
  ASSERT_EQ(people.size(), 120u);
  Matcher matcher(engine_->pack(), faces_.get(), 0.001, SearchMode::kCentroid);
  for (size_t i = 0; i < 10; ++i) Enrol(people[i].first, people[i].second);
  const Calibration small = matcher.calibration();
  EXPECT_EQ(small.persons, 10u);
  for (size_t i = 10; i < people.size(); ++i) Enrol(people[i].first, people[i].second);
  const Calibration large = matcher.calibration();
  EXPECT_GE(large.persons, 115u);  // a few LFW first photos may hold no usable face
  EXPECT_GT(large.impostor_pairs, small.impostor_pairs);
  EXPECT_LT(large.per_comparison_far, small.per_comparison_far);
  EXPECT_GT(large.primary_threshold, small.primary_threshold);
  EXPECT_GT(large.fused_threshold, small.fused_threshold);
  // A looser target gives a lower threshold for the same gallery.
  EXPECT_LT(matcher.CalibrationFor(0.05).primary_threshold, large.primary_threshold);
}

TEST_F(RecognitionTest, ConfidentlyRecognisedFacesJoinTheGalleryWithinItsCap) {
  for (const auto& [person, photo] : LfwPeople(20)) Enrol(person, photo);
  // The person with the most photos in the shared LFW copy.
  const auto photos = FilesIn(DataPath("lfw/images/Jean_Chretien"));
  ASSERT_GE(photos.size(), 15u);
  const int64_t enrolled = Enrol("chretien", photos.front());
  ASSERT_NE(enrolled, 0);

  constexpr int kCap = 4;
  Matcher matcher(engine_->pack(), faces_.get(), 0.001, SearchMode::kCentroid);
  GalleryLearner learner(faces_.get(), objects_.get(), Config{}.quality, kCap,
                         Config{}.notify.spoof_live_threshold);
  int confident = 0, learned = 0;
  for (size_t i = 1; i < photos.size(); ++i) {
    auto image = ReadImageFile(photos[i], {});
    ASSERT_TRUE(image.ok());
    auto face = LargestFace(*engine_, *image, EmbedWith::kPrimary);
    if (!face) continue;
    std::vector<FaceView> views{{*image, *face}};
    auto decision = matcher.Decide(*engine_, views);
    ASSERT_TRUE(decision.ok()) << decision.status().ToString();
    if (!decision->confident) continue;
    EXPECT_EQ(decision->person_id.value_or(""), "chretien");
    ++confident;
    auto id = learner.Consider(*engine_, *decision, views.front(), face->live_score,
                               "sighting-" + std::to_string(i));
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    learned += *id != 0;
  }
  EXPECT_GE(confident, kCap + 1) << "too few confident decisions to exercise the cap";
  EXPECT_GT(learned, kCap - 1) << "learned faces should fill the gallery up to the cap";

  auto gallery = faces_->ListFaces("chretien");
  ASSERT_TRUE(gallery.ok());
  EXPECT_EQ(gallery->size(), size_t{kCap});
  std::set<std::string> keys;
  bool kept_enrolled = false;
  for (const auto& f : *gallery) {
    SCOPED_TRACE(f.id);
    keys.insert(f.image_key);
    if (f.id == enrolled) {
      kept_enrolled = true;
      EXPECT_EQ(f.origin, FaceOrigin::kEnrolled);
      continue;
    }
    EXPECT_EQ(f.origin, FaceOrigin::kLearned);
    EXPECT_EQ(f.sighting_id.rfind("sighting-", 0), 0u) << f.sighting_id;
    auto exists = objects_->Exists(f.image_key);
    EXPECT_TRUE(exists.ok() && *exists) << f.image_key;
  }
  EXPECT_TRUE(kept_enrolled) << "an enrolled face is never replaced";
  // Replaced faces take their pictures with them.
  auto pictures = objects_->List("faces/chretien/");
  ASSERT_TRUE(pictures.ok());
  EXPECT_EQ(std::set<std::string>(pictures->begin(), pictures->end()), keys);
}

TEST_F(RecognitionTest, ReindexAfterAModelChangeLeavesNoVectorOfTheOldModel) {
  const std::string data = dir_.Sub("cli");
  // A changed model pack: the second embedder's alignment template moved by a
  // pixel, which changes its vectors and so its model id.
  const std::string pack_dir = dir_.Sub("pack");
  fs::create_directories(pack_dir);
  const std::string installed = DefaultModelsDir();
  for (const auto& e : fs::directory_iterator(installed))
    if (e.path().filename() != "manifest.json")
      fs::create_symlink(e.path(), fs::path(pack_dir) / e.path().filename());
  nlohmann::json manifest;
  std::ifstream(fs::path(installed) / "manifest.json") >> manifest;
  for (auto& point : manifest["embedders"][1]["align"]["template"])
    point[1] = point[1].get<double>() + 1.0;
  std::ofstream(fs::path(pack_dir) / "manifest.json") << manifest.dump(2);
  auto changed = LoadModelPack(pack_dir);
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  ASSERT_NE(changed->embedders[1].id, engine_->embedders()[1].id);

  auto run = [&](std::vector<std::string> args, const std::string& models) {
    args.insert(args.begin(), {testing::BinaryPath(), "--data-dir", data, "--log-level", "warn"});
    return testing::RunCommand(args, {"CONCIERGE_VISION_MODELS_DIR=" + models});
  };
  auto named = [&](const std::string& models) {
    const auto r = run({"--json", "identify", DataPath(kExamples) + "obama.jpg"}, models);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const auto faces = nlohmann::json::parse(r.out)["faces"];
    return !faces.empty() && faces[0]["person"] == "obama";
  };
  for (const auto& [person, photo] : std::vector<std::pair<std::string, std::string>>{
           {"obama", "obama2.jpg"}, {"biden", "biden.jpg"}}) {
    const auto r = run({"enroll", "--person", person, DataPath(kExamples) + photo}, installed);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  EXPECT_TRUE(named(installed));
  EXPECT_FALSE(named(pack_dir)) << "faces of the old model must not be searched";

  const auto reindexed = run({"--json", "reindex"}, pack_dir);
  ASSERT_EQ(reindexed.exit_code, 0) << reindexed.err;
  const auto outcome = nlohmann::json::parse(reindexed.out);
  EXPECT_EQ(outcome["faces"], 2);
  EXPECT_EQ(outcome["reembedded"], 2);
  EXPECT_TRUE(named(pack_dir));

  // The database holds vectors of exactly the new pack's models.
  std::set<std::string> stored;
  {
    auto db = Database::OpenSqlite((fs::path(data) / "concierge.db").string(), 5000,
                                   Database::Access::kReadOnly);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    (*db)->WithConnection([&](Connection& c) {
      auto stmt = c.Prepare("SELECT DISTINCT model FROM face_embeddings");
      ASSERT_TRUE(stmt.ok());
      for (auto row = stmt->Step(); row.ok() && *row; row = stmt->Step())
        stored.insert(stmt->ColumnText(0));
    });
  }
  EXPECT_EQ(stored, (std::set<std::string>{changed->embedders[0].id, changed->embedders[1].id}));
  const auto again = run({"--json", "reindex"}, pack_dir);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(nlohmann::json::parse(again.out)["already_current"], 2);
}

}  // namespace
}  // namespace concierge
