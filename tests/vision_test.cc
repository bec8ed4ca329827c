// The vision engine on real photos: NMS and tiling, alignment geometry,
// detection recall floors, embeddings, quality and the model manifest.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "core/config.h"
#include "support/shared_face_engine.h"
#include "support/test_env.h"
#include "vision/aligner.h"
#include "vision/face_detector.h"
#include "vision/face_engine.h"
#include "vision/face_quality.h"
#include "vision/ground_truth.h"
#include "vision/image_io.h"
#include "vision/verification_metrics.h"

namespace concierge {
namespace {

using testing::DataPath;
namespace fs = std::filesystem;

TEST(Nms, KeepsStrongestAndDropsOverlapsAndNestedBoxes) {
  std::vector<Detection> d = {
      {{10, 10, 100, 100}, 0.90f},   // face
      {{15, 12, 100, 100}, 0.95f},   // same face, stronger
      {{300, 10, 80, 80}, 0.85f},    // another face
      {{320, 40, 40, 20}, 0.99f},    // nested in the other face, strongest of all
      {{600, 600, 50, 50}, 0.80f},   // alone
  };
  const auto kept = SuppressOverlaps(d, 0.4f);
  ASSERT_EQ(kept.size(), 3u);
  EXPECT_FLOAT_EQ(kept[0].score, 0.99f);
  EXPECT_FLOAT_EQ(kept[1].score, 0.95f);
  EXPECT_FLOAT_EQ(kept[2].score, 0.80f);
}

TEST(Nms, DisjointBoxesAllSurvive) {
  std::vector<Detection> d;
  for (int i = 0; i < 10; ++i) d.push_back({{i * 50.f, 0, 40, 40}, 0.5f + i * 0.01f});
  EXPECT_EQ(SuppressOverlaps(d, 0.4f).size(), 10u);
}

TEST(TileGrid, CoversTheFrameWithOverlap) {
  const cv::Size frame(1920, 1080);
  const auto tiles = TileGrid(frame, {640, 480}, 0.25f);
  ASSERT_GT(tiles.size(), 4u);
  cv::Mat covered(frame, CV_8U, cv::Scalar(0));
  for (const auto& t : tiles) {
    EXPECT_EQ(t & cv::Rect(0, 0, frame.width, frame.height), t) << "tile leaves the frame";
    covered(t).setTo(1);
  }
  EXPECT_EQ(cv::countNonZero(covered), frame.area());
  EXPECT_EQ(TileGrid({320, 240}, {640, 480}, 0.25f).size(), 1u);
}

TEST(Aligner, RecoversAKnownSimilarityTransform) {
  // Move the template by a known rotation, scale and shift; the fit must undo it.
  const double angle = 17.0 * M_PI / 180, scale = 2.3, tx = 140, ty = -35;
  FivePoints moved;
  for (size_t i = 0; i < 5; ++i) {
    const auto& p = ArcFaceTemplate()[i];
    moved[i] = {static_cast<float>(scale * (std::cos(angle) * p.x - std::sin(angle) * p.y) + tx),
                static_cast<float>(scale * (std::sin(angle) * p.x + std::cos(angle) * p.y) + ty)};
  }
  const std::vector<Point> target(ArcFaceTemplate().begin(), ArcFaceTemplate().end());
  auto m = SimilarityTransform({moved.begin(), moved.end()}, target);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  for (size_t i = 0; i < 5; ++i) {
    const double x = m->at<double>(0, 0) * moved[i].x + m->at<double>(0, 1) * moved[i].y + m->at<double>(0, 2);
    const double y = m->at<double>(1, 0) * moved[i].x + m->at<double>(1, 1) * moved[i].y + m->at<double>(1, 2);
    EXPECT_NEAR(x, ArcFaceTemplate()[i].x, 1e-2);
    EXPECT_NEAR(y, ArcFaceTemplate()[i].y, 1e-2);
  }
  // A similarity has equal diagonal terms and opposite off-diagonal terms.
  EXPECT_NEAR(m->at<double>(0, 0), m->at<double>(1, 1), 1e-6);
  EXPECT_NEAR(m->at<double>(0, 1), -m->at<double>(1, 0), 1e-6);
  EXPECT_NEAR(std::hypot(m->at<double>(0, 0), m->at<double>(1, 0)), 1 / scale, 1e-4);
}

TEST(Aligner, DegeneratePointsAreAnError) {
  FivePoints same;
  same.fill({50, 50});
  const std::vector<Point> target(ArcFaceTemplate().begin(), ArcFaceTemplate().end());
  EXPECT_FALSE(SimilarityTransform({same.begin(), same.end()}, target).ok());
  EXPECT_FALSE(SimilarityTransform({same.begin(), same.begin() + 2}, target).ok());
}

TEST(Metrics, CrossValidationAndTarAtFar) {
  std::vector<ScoredPair> pairs;
  std::mt19937 rng(7);
  std::normal_distribution<float> genuine(0.7f, 0.1f), impostor(0.1f, 0.1f);
  for (int i = 0; i < 2000; ++i) pairs.push_back({i % 2 ? genuine(rng) : impostor(rng), i % 2 == 1, i % 10});
  const FoldReport r = CrossValidate(pairs, 10);
  EXPECT_GT(r.mean, 0.99);
  EXPECT_LT(r.mean, 1.0 + 1e-9);
  EXPECT_NEAR(BestThreshold(pairs), 0.4f, 0.08f);
  const RateAtFar far = TarAtFar(pairs, 1e-2);
  size_t false_accepts = 0;
  for (const auto& p : pairs) false_accepts += (!p.same && p.similarity >= far.threshold);
  EXPECT_LE(false_accepts, 10u);  // 1% of 1000 impostors
  EXPECT_GT(far.tar, 0.95);
}

TEST(GroundTruth, MatchingIsOneToOne) {
  const std::vector<Box> truths = {{0, 0, 10, 10}, {100, 100, 10, 10}};
  const std::vector<Box> dets = {{0, 0, 10, 10}, {1, 1, 10, 10}, {500, 500, 5, 5}};
  const MatchCount m = MatchBoxes(truths, dets, 0.4f);
  EXPECT_EQ(m.found, 1);
  EXPECT_EQ(m.false_positives, 2);
  EXPECT_DOUBLE_EQ(m.recall(), 0.5);
}

class VisionEngineTest : public testing::SharedFaceEngineTest {
 protected:
  void SetUp() override {
    REQUIRE_TEST_DATA();
    ASSERT_NE(engine_, nullptr) << engine_status_.ToString();
  }
  static cv::Mat Load(const std::string& relative) {
    auto image = ReadImageFile(DataPath(relative), {});
    EXPECT_TRUE(image.ok()) << image.status().ToString();
    return image.ok() ? *image : cv::Mat();
  }
  // Adds to `total` how many of `truth` the detector finds in `image` (IoU 0.4).
  static void CountMatches(const cv::Mat& image, const std::vector<Box>& truth,
                           MatchCount& total) {
    auto dets = engine_->detector().Detect(image);
    ASSERT_TRUE(dets.ok());
    std::vector<Box> found;
    for (const auto& d : *dets) found.push_back(d.box);
    const MatchCount m = MatchBoxes(truth, found, 0.4f);
    total.truths += m.truths;
    total.found += m.found;
  }
};

TEST_F(VisionEngineTest, DlibTestingRecallFloor) {
  auto truth = LoadDlibBoxes(DataPath("detection/dlib_faces/examples/faces/testing.xml"));
  ASSERT_TRUE(truth.ok()) << truth.status().ToString();
  MatchCount total;
  for (const auto& [path, boxes] : *truth) {
    auto image = ReadImageFile(path, {});
    ASSERT_TRUE(image.ok());
    ASSERT_NO_FATAL_FAILURE(CountMatches(*image, boxes, total));
  }
  EXPECT_EQ(total.truths, 25);
  EXPECT_GE(total.recall(), 0.95);
}

TEST_F(VisionEngineTest, FddbRecallFloor) {
  auto truth = LoadFddbBoxes(DataPath("detection/fddb/derived_boxes_from_ellipses.csv"),
                             DataPath("detection/fddb/images"));
  ASSERT_TRUE(truth.ok()) << truth.status().ToString();
  MatchCount total;
  int images = 0;
  for (const auto& [path, boxes] : *truth) {
    if (++images % 2) continue;  // every other image keeps the suite fast
    auto image = ReadImageFile(path, {});
    ASSERT_TRUE(image.ok()) << path;
    ASSERT_NO_FATAL_FAILURE(CountMatches(*image, boxes, total));
  }
  EXPECT_GT(total.truths, 400);
  EXPECT_GE(total.recall(), 0.80) << total.found << "/" << total.truths;
}

TEST_F(VisionEngineTest, BoxesAreInSourcePixelsForAnySize) {
  const cv::Mat image = Load("enroll/face_recognition/examples/obama.jpg");
  auto faces = engine_->Analyze(image, {});
  ASSERT_TRUE(faces.ok());
  ASSERT_EQ(faces->size(), 1u);
  const Box box = (*faces)[0].box;
  // The same photo at half size gives the same face at half the coordinates.
  cv::Mat half;
  cv::resize(image, half, {}, 0.5, 0.5, cv::INTER_AREA);
  auto small = engine_->Analyze(half, {});
  ASSERT_TRUE(small.ok());
  ASSERT_EQ(small->size(), 1u);
  const Box s = (*small)[0].box;
  EXPECT_GT(IoU(Box{s.x * 2, s.y * 2, s.w * 2, s.h * 2}, box), 0.8f);
}

TEST_F(VisionEngineTest, SmallFaceInA1080pFrameIsFoundWithTiles) {
  // Paste a 40 px face into an empty 1080p frame: the full-frame pass alone
  // sees it at 7 px, below the detector's smallest anchor.
  const cv::Mat face = Load("enroll/face_recognition/examples/obama.jpg");
  auto found = engine_->Analyze(face, {.embed = EmbedWith::kNone, .anti_spoof = false});
  ASSERT_TRUE(found.ok() && !found->empty());
  const Box b = (*found)[0].box;
  const cv::Rect crop = cv::Rect(int(b.x - b.w * 0.3), int(b.y - b.h * 0.3), int(b.w * 1.6), int(b.h * 1.6)) &
                        cv::Rect(0, 0, face.cols, face.rows);
  cv::Mat small;
  cv::resize(face(crop), small, {}, 64.0 / crop.width, 64.0 / crop.width, cv::INTER_AREA);
  cv::Mat frame(1080, 1920, CV_8UC3, cv::Scalar(90, 100, 110));
  small.copyTo(frame(cv::Rect(1500, 700, small.cols, small.rows)));
  auto dets = engine_->detector().Detect(frame);
  ASSERT_TRUE(dets.ok());
  ASSERT_GE(dets->size(), 1u);
  EXPECT_NEAR((*dets)[0].box.x + (*dets)[0].box.w / 2, 1500 + small.cols / 2, 20);
}

TEST_F(VisionEngineTest, EmbeddingsSeparatePeople) {
  auto embed = [&](const std::string& rel) {
    auto faces = engine_->Analyze(Load(rel), {.embed = EmbedWith::kPrimary, .anti_spoof = false});
    EXPECT_TRUE(faces.ok() && !faces->empty());
    const auto largest = std::max_element(faces->begin(), faces->end(),
                                          [](auto& a, auto& b) { return a.box.area() < b.box.area(); });
    return largest->embeddings.front().vector;
  };
  const Embedding obama = embed("enroll/face_recognition/examples/obama.jpg");
  const Embedding obama2 = embed("enroll/face_recognition/examples/obama2.jpg");
  const Embedding alex = embed("enroll/face_recognition/examples/alex-lacamoire.png");
  ASSERT_EQ(obama.size(), 512u);
  EXPECT_NEAR(Dot(obama, obama), 1.0f, 1e-4f);
  EXPECT_GT(Dot(obama, obama2), 0.5f);
  EXPECT_LT(Dot(obama, alex), 0.25f);
}

TEST_F(VisionEngineTest, QualityAndLivenessAreMeasured) {
  const cv::Mat image = Load("enroll/face_recognition/examples/obama.jpg");
  auto faces = engine_->Analyze(image, {.embed = EmbedWith::kNone, .anti_spoof = true});
  ASSERT_TRUE(faces.ok() && faces->size() == 1);
  const FaceObservation& f = (*faces)[0];
  EXPECT_GE(f.live_score, 0.f);
  EXPECT_LE(f.live_score, 1.f);
  EXPECT_GT(f.quality.score, 0.6f);
  EXPECT_LT(std::fabs(f.quality.yaw_deg), 30.f);
  EXPECT_EQ(QualityRejection(f.quality, QualityGate{}), "");
  // The same face shrunk to ~25 px is refused as too small.
  cv::Mat tiny;
  cv::resize(image, tiny, {}, 25.0 / f.box.w, 25.0 / f.box.w, cv::INTER_AREA);
  auto small = engine_->Analyze(tiny, {.embed = EmbedWith::kNone, .anti_spoof = false});
  ASSERT_TRUE(small.ok());
  if (!small->empty()) {
    EXPECT_NE(QualityRejection((*small)[0].quality, QualityGate{}).find("too small"), std::string::npos);
  }
  // A blurred copy is sharper-than-nothing but scores below the original.
  cv::Mat blurred;
  cv::GaussianBlur(image, blurred, {0, 0}, 6);
  auto soft = engine_->Analyze(blurred, {.embed = EmbedWith::kNone, .anti_spoof = false});
  ASSERT_TRUE(soft.ok() && !soft->empty());
  EXPECT_LT((*soft)[0].quality.sharpness, f.quality.sharpness / 4);
}

TEST_F(VisionEngineTest, NoFaceInAFlatImage) {
  cv::Mat flat(480, 640, CV_8UC3, cv::Scalar(128, 128, 128));
  auto faces = engine_->Analyze(flat, {});
  ASSERT_TRUE(faces.ok());
  EXPECT_TRUE(faces->empty());
}

TEST(ModelPack, HashMismatchAndMissingFilesAreRefused) {
  const std::string models = DefaultModelsDir();
  ASSERT_TRUE(fs::exists(models + "/manifest.json")) << "run scripts/fetch-models.sh";
  testing::TempDir dir;
  for (const auto& e : fs::directory_iterator(models))
    fs::create_symlink(e.path(), dir.Sub(e.path().filename().string()));
  ASSERT_TRUE(LoadModelPack(dir.path()).ok());

  nlohmann::json manifest = nlohmann::json::parse(std::ifstream(models + "/manifest.json"));
  manifest["embedders"][0]["sha256"] = std::string(64, '0');
  fs::remove(dir.Sub("manifest.json"));
  std::ofstream(dir.Sub("manifest.json")) << manifest.dump();
  auto bad = LoadModelPack(dir.path());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(bad.status().message().find("sha256"), std::string::npos);

  testing::TempDir empty;
  EXPECT_EQ(LoadModelPack(empty.path()).status().code(), Status::Code::kFailedPrecondition);
}

TEST(ModelPack, UnknownAdapterIsRefusedClearly) {
  const std::string models = DefaultModelsDir();
  testing::TempDir dir;
  for (const auto& e : fs::directory_iterator(models))
    if (e.path().filename() != "manifest.json") fs::create_symlink(e.path(), dir.Sub(e.path().filename().string()));
  nlohmann::json manifest = nlohmann::json::parse(std::ifstream(models + "/manifest.json"));
  manifest["models"]["detector"]["adapter"] = "yunet";
  std::ofstream(dir.Sub("manifest.json")) << manifest.dump();
  auto pack = LoadModelPack(dir.path());
  ASSERT_TRUE(pack.ok());
  auto detector = CreateFaceDetector(*pack, {});
  ASSERT_FALSE(detector.ok());
  EXPECT_NE(detector.status().message().find("yunet"), std::string::npos);
}

}  // namespace
}  // namespace concierge
