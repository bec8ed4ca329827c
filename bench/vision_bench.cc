// Vision speed on real frames: detection per frame at 640x480 and 1080p (with
// and without tiles), landmarks + alignment + embedding per face, anti-spoof
// per face, the server's whole recognise stage per face, and the process's
// peak RSS.
//   build/bench/vision_bench [--benchmark_filter=...]
// Face data: $CONCIERGE_TEST_DATA (default ../shared/data).
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include <benchmark/benchmark.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "core/config.h"
#include "pipeline/matcher.h"
#include "pipeline/recognise.h"
#include "store/database.h"
#include "store/face_collection.h"
#include "vision/aligner.h"
#include "vision/face_engine.h"
#include "vision/image_io.h"

namespace concierge {
namespace {

std::string DataDir() {
  const char* env = std::getenv("CONCIERGE_TEST_DATA");
  return env ? env : "../shared/data";
}

// The 40th frame of the 1080p arcade clip: several people walking in.
const cv::Mat& Frame1080() {
  static const cv::Mat frame = [] {
    cv::VideoCapture cap(DataDir() + "/videos/walking_arcade_1080p.mp4");
    cv::Mat f;
    for (int i = 0; i < 40 && cap.read(f); ++i) {
    }
    return f;
  }();
  return frame;
}

FaceEngine& Engine(int tile_above_width) {
  static std::map<int, std::unique_ptr<FaceEngine>> engines;
  auto& e = engines[tile_above_width];
  if (!e) {
    VisionConfig config;
    config.models_dir = DefaultModelsDir();
    config.tile_above_width = tile_above_width;
    auto created = FaceEngine::Create(config);
    if (!created.ok()) {
      std::fprintf(stderr, "%s\n", created.status().ToString().c_str());
      std::exit(1);
    }
    e = std::move(*created);
  }
  return *e;
}

double PeakRssMb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

void RunDetect(benchmark::State& state, const cv::Mat& frame, int tile_above_width) {
  if (frame.empty()) {
    state.SkipWithError("face data missing");
    return;
  }
  cv::setNumThreads(static_cast<int>(state.range(0)));
  FaceEngine& engine = Engine(tile_above_width);
  size_t faces = 0;
  for (auto _ : state) {
    auto d = engine.detector().Detect(frame);
    faces = d.ok() ? d->size() : 0;
    benchmark::DoNotOptimize(faces);
  }
  state.counters["faces"] = static_cast<double>(faces);
  state.counters["fps"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["peak_rss_mb"] = PeakRssMb();
}

void BM_Detect640x480(benchmark::State& state) {
  cv::Mat small;
  if (!Frame1080().empty()) cv::resize(Frame1080(), small, {640, 480}, 0, 0, cv::INTER_AREA);
  RunDetect(state, small, 800);
}
void BM_Detect1080pTiled(benchmark::State& state) { RunDetect(state, Frame1080(), 800); }
void BM_Detect1080pFullFrameOnly(benchmark::State& state) { RunDetect(state, Frame1080(), 0); }

// One detected face of the 1080p frame, described without and with parts.
void RunDescribe(benchmark::State& state, AnalyzeOptions options) {
  if (Frame1080().empty()) {
    state.SkipWithError("face data missing");
    return;
  }
  cv::setNumThreads(1);
  FaceEngine& engine = Engine(800);
  auto dets = engine.detector().Detect(Frame1080());
  if (!dets.ok() || dets->empty()) {
    state.SkipWithError("no face in the benchmark frame");
    return;
  }
  for (auto _ : state) {
    auto face = engine.Describe(Frame1080(), (*dets)[0], options);
    benchmark::DoNotOptimize(face);
  }
  state.counters["peak_rss_mb"] = PeakRssMb();
}
void BM_LandmarksAlignOnly(benchmark::State& state) {
  RunDescribe(state, {.embed = EmbedWith::kNone, .anti_spoof = false, .check_human = false});
}
void BM_LandmarksAlignEmbed(benchmark::State& state) {
  RunDescribe(state, {.embed = EmbedWith::kPrimary, .anti_spoof = false, .check_human = false});
}
void BM_LandmarksAlignEmbedBoth(benchmark::State& state) {
  RunDescribe(state, {.embed = EmbedWith::kAll, .anti_spoof = false, .check_human = false});
}
void BM_LandmarksAlignEmbedAntiSpoof(benchmark::State& state) {
  RunDescribe(state, {.embed = EmbedWith::kPrimary, .anti_spoof = true, .check_human = false});
}
// Landmarks and alignment plus the human-face check (BlazeFace, and dlib's
// MMOD where BlazeFace is unsure).
void BM_LandmarksAlignHumanCheck(benchmark::State& state) {
  RunDescribe(state, {.embed = EmbedWith::kNone, .anti_spoof = false, .check_human = true});
}

// The server's recognise stage per sighting, as `serve` runs it: decode the
// sighting's JPEG, describe the face at the edge's box (one landmark pass,
// the primary embedding, anti-spoofing; no detection), and decide against a
// gallery of 100 LFW people; the second embedder runs only for scores near
// the threshold. Probes: another photo of each of those people and 100
// strangers, cycled, so the average includes second opinions at their real
// rate (counter "second_opinion").
struct RecogniseStage {
  std::unique_ptr<Database> db;
  std::unique_ptr<FaceCollection> faces;
  std::unique_ptr<Matcher> matcher;
  struct Probe {
    std::string jpeg;
    Box box;
  };
  std::vector<Probe> probes;
};

RecogniseStage* MakeRecogniseStage() {
  namespace fs = std::filesystem;
  FaceEngine& engine = Engine(800);
  auto* stage = new RecogniseStage;
  const fs::path lfw = fs::path(DataDir()) / "lfw/images";
  if (!fs::exists(lfw)) return stage;
  std::vector<fs::path> people;
  for (const auto& e : fs::directory_iterator(lfw)) people.push_back(e.path());
  std::sort(people.begin(), people.end());
  const std::string db_path = (fs::temp_directory_path() / ("vision_bench_" +
                               std::to_string(::getpid()) + ".db")).string();
  auto db = Database::OpenSqlite(db_path, 5000);
  if (!db.ok()) return stage;
  stage->db = std::move(*db);
  auto faces = FaceCollection::Open(stage->db.get(), "default", SpacesOf(engine.embedders()));
  if (!faces.ok()) return stage;
  stage->faces = std::move(*faces);
  // The largest face of a photo and the photo as a sighting's JPEG.
  auto face_of = [&](const fs::path& photo, EmbedWith embed) -> std::optional<
                     std::pair<FaceObservation, std::string>> {
    auto image = ReadImageFile(photo.string(), {});
    if (!image.ok()) return std::nullopt;
    auto found = engine.Analyze(*image, {.embed = embed, .anti_spoof = false});
    if (!found.ok() || found->empty()) return std::nullopt;
    auto best = std::max_element(found->begin(), found->end(), [](const auto& a, const auto& b) {
      return a.box.w * a.box.h < b.box.w * b.box.h;
    });
    std::vector<uchar> jpeg;
    cv::imencode(".jpg", *image, jpeg, {cv::IMWRITE_JPEG_QUALITY, 90});
    return std::pair{*best, std::string(jpeg.begin(), jpeg.end())};
  };
  size_t enrolled = 0, strangers = 0;
  for (size_t i = 0; i < people.size() && (enrolled < 100 || strangers < 100); i += 7) {
    std::vector<fs::path> photos;
    for (const auto& e : fs::directory_iterator(people[i])) photos.push_back(e.path());
    std::sort(photos.begin(), photos.end());
    if (photos.size() >= 2 && enrolled < 100) {
      auto gallery = face_of(photos[0], EmbedWith::kAll);
      auto probe = face_of(photos[1], EmbedWith::kNone);
      if (!gallery || !probe) continue;
      const std::string id = "p" + std::to_string(i);
      (void)stage->faces->AddPerson({.id = id, .display_name = id});
      FaceRecord record;
      record.person_id = id;
      record.embeddings = gallery->first.embeddings;
      (void)stage->faces->AddFace(record);
      stage->probes.push_back({probe->second, probe->first.box});
      ++enrolled;
    } else if (photos.size() == 1 && strangers < 100) {
      auto probe = face_of(photos[0], EmbedWith::kNone);
      if (!probe) continue;
      stage->probes.push_back({probe->second, probe->first.box});
      ++strangers;
    }
  }
  stage->matcher = std::make_unique<Matcher>(engine.pack(), stage->faces.get(), 0.001,
                                             SearchMode::kCentroid);
  fs::remove(db_path);
  return stage;
}

void BM_RecogniseStagePerSighting(benchmark::State& state) {
  static RecogniseStage* stage = MakeRecogniseStage();
  if (stage->probes.empty()) {
    state.SkipWithError("face data missing");
    return;
  }
  cv::setNumThreads(1);
  CropRecogniser recogniser(&Engine(800), stage->matcher.get(), ImageLimits{});
  size_t i = 0, second = 0, known = 0;
  for (auto _ : state) {
    const auto& probe = stage->probes[i++ % stage->probes.size()];
    auto r = recogniser.Recognise(probe.jpeg, {probe.box}, 0.9f);
    if (r.ok()) {
      second += r->match.second_opinion;
      known += r->decision == Decision::kKnown;
    }
  }
  state.counters["probes"] = static_cast<double>(stage->probes.size());
  state.counters["second_opinion"] = static_cast<double>(second) / static_cast<double>(i);
  state.counters["known"] = static_cast<double>(known) / static_cast<double>(i);
  state.counters["peak_rss_mb"] = PeakRssMb();
}

BENCHMARK(BM_Detect640x480)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Detect1080pTiled)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Detect1080pFullFrameOnly)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LandmarksAlignOnly)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LandmarksAlignEmbed)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LandmarksAlignEmbedBoth)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LandmarksAlignEmbedAntiSpoof)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LandmarksAlignHumanCheck)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RecogniseStagePerSighting)->Unit(benchmark::kMillisecond)->MinTime(5);

}  // namespace
}  // namespace concierge

BENCHMARK_MAIN();
