// Vision speed on real frames: detection per frame at 640x480 and 1080p (with
// and without tiles), landmarks + alignment + embedding per face, anti-spoof
// per face, and the process's peak RSS.
//   build/bench/vision_bench [--benchmark_filter=...]
// Face data: $CONCIERGE_TEST_DATA (default ../shared/data).
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "core/config.h"
#include "vision/aligner.h"
#include "vision/face_engine.h"

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
void BM_LandmarksAlignEmbed(benchmark::State& state) { RunDescribe(state, {.embed = EmbedWith::kPrimary, .anti_spoof = false}); }
void BM_LandmarksAlignOnly(benchmark::State& state) { RunDescribe(state, {.embed = EmbedWith::kNone, .anti_spoof = false}); }
void BM_LandmarksAlignEmbedAntiSpoof(benchmark::State& state) {
  RunDescribe(state, {.embed = EmbedWith::kPrimary, .anti_spoof = true});
}

BENCHMARK(BM_Detect640x480)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Detect1080pTiled)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Detect1080pFullFrameOnly)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LandmarksAlignOnly)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LandmarksAlignEmbed)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LandmarksAlignEmbedAntiSpoof)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace concierge

BENCHMARK_MAIN();
