// Edge speed per core: whole video files through the edge pipeline (decode,
// motion gate + detection + landmarks/quality, tracking + publishing), with
// each part timed separately. Clips: short_hamilton_clip (640x360, 30 fps),
// walking_arcade_1080p (1920x1080, 25 fps), and the arcade clip scaled to
// 1280x720 and re-encoded as H.264 once before timing. Detection runs at the
// default 10 fps with the motion gate on; "notile" variants turn off the
// detector's extra tiles for wide frames (vision.tile_above_width = 0).
//   taskset -c 0 build/bench/edge_bench [--benchmark_filter=...]
// Face data: $CONCIERGE_TEST_DATA (default ../shared/data).
//
// Counters: fps = frames per second of process CPU time, i.e. per core, which
// stays honest on a busy machine and if a library spawns threads (OpenCV
// itself is held to one: cv::setNumThreads(1)). decode_ms, detect_ms (motion
// gate, detector, landmarks, quality) and track_ms (tracker, plus for the few
// published crops anti-spoof, crop and JPEG) are CPU ms per frame: the
// pipeline's own wall-clock split of each part, applied to the CPU time.
// fps_wall is frames per wall second of the pipeline, for comparison.
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <spdlog/spdlog.h>

#include "core/config.h"
#include "pipeline/edge_camera.h"
#include "pipeline/frame_source.h"
#include "vision/face_engine.h"

namespace concierge {
namespace {

namespace fs = std::filesystem;

std::string DataDir() {
  const char* env = std::getenv("CONCIERGE_TEST_DATA");
  return env ? env : "../shared/data";
}

double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Writes the 1080p arcade clip scaled to 720p as H.264 (MPEG-4 Part 2 if no
// H.264 encoder is built in) and returns its path, or "" on failure.
std::string Make720p() {
  const std::string out = (fs::temp_directory_path() / "concierge-edge-bench-720p.mp4").string();
  cv::VideoCapture in(DataDir() + "/videos/walking_arcade_1080p.mp4", cv::CAP_FFMPEG);
  if (!in.isOpened()) return "";
  const double fps = in.get(cv::CAP_PROP_FPS);
  const cv::Size size(1280, 720);
  cv::VideoWriter writer(out, cv::CAP_FFMPEG, cv::VideoWriter::fourcc('a', 'v', 'c', '1'), fps,
                         size);
  if (!writer.isOpened())
    writer.open(out, cv::CAP_FFMPEG, cv::VideoWriter::fourcc('m', 'p', '4', 'v'), fps, size);
  if (!writer.isOpened()) return "";
  cv::Mat frame, scaled;
  while (in.read(frame)) {
    cv::resize(frame, scaled, size, 0, 0, cv::INTER_AREA);
    writer.write(scaled);
  }
  return out;
}

void RunVideo(benchmark::State& state, const std::string& path, int tile_above_width) {
  if (path.empty() || !fs::exists(path)) {
    state.SkipWithError(("video missing: " + path).c_str());
    return;
  }
  VisionConfig vision;
  vision.models_dir = DefaultModelsDir();
  vision.tile_above_width = tile_above_width;
  auto engine = FaceEngine::Create(vision);
  if (!engine.ok()) {
    state.SkipWithError(engine.status().ToString().c_str());
    return;
  }
  const CameraConfig camera;  // defaults: 10 detections/s, motion gate on
  const EdgeConfig edge;
  const SightingSink sink = [](const Sighting&) { return Status::Ok(); };
  CameraStats total;
  double decode = 0, detect = 0, track = 0, cpu = 0;
  for (auto _ : state) {
    auto source = OpenFrameSource(path, SourceOptions{});
    if (!source.ok()) {
      state.SkipWithError(source.status().ToString().c_str());
      return;
    }
    EdgeCamera pipeline(camera, edge, engine->get(), sink, false);
    const double cpu_start = CpuSeconds();
    Frame frame;
    while (true) {
      auto read = (*source)->Next(frame, {});
      if (!read.ok() || *read != SourceRead::kFrame) break;
      benchmark::DoNotOptimize(pipeline.Process(frame));
    }
    benchmark::DoNotOptimize(pipeline.Flush());
    cpu += CpuSeconds() - cpu_start;
    const CameraStats& s = pipeline.stats();
    const double n = static_cast<double>(s.frames);
    decode += s.decode_ms * n;
    detect += s.detect_ms * n;
    track += s.track_ms * n;
    total.frames += s.frames;
    total.frames_detected += s.frames_detected;
    total.faces += s.faces;
    total.sightings += s.sightings;
  }
  const double frames = static_cast<double>(total.frames);
  const double runs = static_cast<double>(state.iterations());
  state.counters["frames"] = frames / runs;
  state.counters["detected"] = static_cast<double>(total.frames_detected) / runs;
  state.counters["faces"] = static_cast<double>(total.faces) / runs;
  state.counters["sightings"] = static_cast<double>(total.sightings) / runs;
  const double wall_ms = decode + detect + track;
  const double cpu_per_wall = 1000.0 * cpu / wall_ms;
  state.counters["decode_ms"] = decode * cpu_per_wall / frames;
  state.counters["detect_ms"] = detect * cpu_per_wall / frames;
  state.counters["track_ms"] = track * cpu_per_wall / frames;
  state.counters["fps"] = frames / cpu;
  state.counters["fps_wall"] = 1000.0 * frames / wall_ms;
}

}  // namespace
}  // namespace concierge

int main(int argc, char** argv) {
  using concierge::RunVideo;
  cv::setNumThreads(1);
  spdlog::set_level(spdlog::level::warn);  // one info line per sighting would drown the table
  const std::string videos = concierge::DataDir() + "/videos/";
  const std::string hamilton = videos + "short_hamilton_clip.mp4";
  const std::string arcade = videos + "walking_arcade_1080p.mp4";
  const std::string arcade720 = concierge::Make720p();
  struct Case {
    const char* name;
    std::string path;
    int tile_above_width;
  };
  const Case cases[] = {
      {"hamilton_360p", hamilton, 800},     {"arcade_720p", arcade720, 800},
      {"arcade_720p_notile", arcade720, 0}, {"arcade_1080p", arcade, 800},
      {"arcade_1080p_notile", arcade, 0},
  };
  for (const auto& c : cases)
    benchmark::RegisterBenchmark(
        (std::string("BM_Edge/") + c.name).c_str(),
        [c](benchmark::State& state) { RunVideo(state, c.path, c.tile_above_width); })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->Iterations(2);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (!arcade720.empty()) std::filesystem::remove(arcade720);
  return 0;
}
