#include "pipeline/frame_source.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include <opencv2/videoio.hpp>  // the CAP_* values only
#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "vision/media_plugin.h"

namespace concierge {

namespace fs = std::filesystem;

namespace {

using SteadyClock = std::chrono::steady_clock;

// Live sources retry from half a second up to half a minute between attempts.
constexpr int64_t kMinBackoffMs = 500;
constexpr int64_t kMaxBackoffMs = 30'000;
// How long Next waits for a frame before reporting kIdle.
constexpr auto kIdleAfter = std::chrono::milliseconds(500);
// FFmpeg otherwise waits about 30 s on a dead host and forever on a stalled stream.
constexpr int kOpenTimeoutMs = 10'000;
constexpr int kReadTimeoutMs = 5'000;

double MsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count();
}

// Sleeps `ms` or until `stop`; false when stopped.
bool SleepFor(std::stop_token stop, int64_t ms) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  cv.wait_for(lock, stop, std::chrono::milliseconds(ms), [] { return false; });
  return !stop.stop_requested();
}

bool AllDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int64_t MtimeMs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000;
}

// A camera device or network stream. A grabber thread reads continuously and
// keeps only the newest frame: when processing falls behind a live camera,
// stale frames are dropped so sightings stay current and memory stays flat.
class LiveSource : public FrameSource {
 public:
  using Opener = std::function<bool(VideoCapture&)>;

  // The capture comes closed; `open` opens it, at first and after every failure.
  static Result<std::unique_ptr<FrameSource>> Create(const std::string& spec,
                                                     const SourceOptions& options, Opener open) {
    ASSIGN_OR_RETURN(std::unique_ptr<VideoCapture> cap, NewVideoCapture());
    return std::unique_ptr<FrameSource>(
        new LiveSource(spec, options, std::move(open), std::move(cap)));
  }

  ~LiveSource() override {
    // Joined here, before the members the grabber uses go away.
    if (grabber_.joinable()) {
      grabber_.request_stop();
      grabber_.join();
    }
  }

  Result<SourceRead> Next(Frame& frame, std::stop_token stop) override {
    if (!grabber_.joinable()) grabber_ = std::jthread([this](std::stop_token st) { Grab(st); });
    std::unique_lock lock(mu_);
    const bool got = ready_.wait_for(lock, stop, kIdleAfter, [&] { return has_frame_; });
    if (stop.stop_requested()) return SourceRead::kEnd;
    if (!got) return SourceRead::kIdle;
    frame = std::move(latest_);
    has_frame_ = false;
    return SourceRead::kFrame;
  }

 private:
  LiveSource(std::string spec, SourceOptions options, Opener open,
             std::unique_ptr<VideoCapture> cap)
      : spec_(RedactSource(spec)),
        options_(std::move(options)),
        open_(std::move(open)),
        cap_(std::move(cap)) {}

  bool TryOpen(VideoCapture& cap) {
    try {
      return open_(cap) && cap.IsOpened();
    } catch (const cv::Exception& e) {
      spdlog::debug("{}: opening {} threw: {}", options_.label, spec_, e.what());
      return false;
    }
  }

  bool TryRead(VideoCapture& cap, cv::Mat& bgr) {
    try {
      return cap.Read(bgr) && !bgr.empty();
    } catch (const cv::Exception& e) {
      spdlog::debug("{}: reading {} threw: {}", options_.label, spec_, e.what());
      return false;
    }
  }

  void Grab(std::stop_token stop) {
    VideoCapture& cap = *cap_;
    int64_t backoff_ms = kMinBackoffMs;
    auto retry_later = [&](const std::string& what) {
      NoteError(options_.label, what + "; retrying in " + std::to_string(backoff_ms) + " ms");
      SleepFor(stop, backoff_ms);
      backoff_ms = std::min(backoff_ms * 2, kMaxBackoffMs);
    };
    while (!stop.stop_requested()) {
      if (!cap.IsOpened()) {
        if (!TryOpen(cap)) {
          retry_later("cannot open " + spec_);
          continue;
        }
        spdlog::info("{}: connected to {} ({})", options_.label, spec_, cap.BackendName());
      }
      Frame f;
      const auto start = SteadyClock::now();
      if (!TryRead(cap, f.bgr)) {
        cap.Release();
        retry_later(spec_ + " stopped delivering frames");
        continue;
      }
      f.decode_ms = MsSince(start);
      f.captured_ms = NowMs();
      f.clock = CaptureClock::kCamera;
      backoff_ms = kMinBackoffMs;  // only a frame proves the connection healthy again
      {
        std::lock_guard lock(mu_);
        latest_ = std::move(f);
        has_frame_ = true;
      }
      ready_.notify_one();
    }
  }

  const std::string spec_;
  const SourceOptions options_;
  const Opener open_;
  const std::unique_ptr<VideoCapture> cap_;  // the grabber's
  std::mutex mu_;
  std::condition_variable_any ready_;
  Frame latest_;
  bool has_frame_ = false;
  std::jthread grabber_;
};

// A recorded video. Capture times are the recording's start (file mtime minus
// its duration) plus each frame's offset, or with `realtime` the replay's
// wall clock, which it then keeps pace with.
class VideoFileSource : public FrameSource {
 public:
  static Result<std::unique_ptr<FrameSource>> Open(const std::string& path,
                                                   const SourceOptions& options) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
      return Status::NotFound("video file " + path + " does not exist");
    ASSIGN_OR_RETURN(std::unique_ptr<VideoCapture> cap, NewVideoCapture());
    std::unique_ptr<VideoFileSource> source(new VideoFileSource(options, std::move(cap)));
    try {
      source->cap_->Open(path, cv::CAP_FFMPEG, {});
    } catch (const cv::Exception& e) {
      return Status::InvalidArgument("cannot open video file " + path + ": " + e.what());
    }
    if (!source->cap_->IsOpened())
      return Status::InvalidArgument("cannot decode video file " + path);
    const double fps = source->cap_->Get(cv::CAP_PROP_FPS);
    // Containers without a usable rate still replay at a plausible camera speed.
    source->frame_ms_ = (fps > 0 && fps <= 1000) ? 1000.0 / fps : 40.0;
    const double frames = std::max(0.0, source->cap_->Get(cv::CAP_PROP_FRAME_COUNT));
    source->base_ms_ = MtimeMs(st) - static_cast<int64_t>(frames * source->frame_ms_);
    source->path_ = path;
    return std::unique_ptr<FrameSource>(std::move(source));
  }

  Result<SourceRead> Next(Frame& frame, std::stop_token stop) override {
    if (stop.stop_requested()) return SourceRead::kEnd;
    const double offset_ms = static_cast<double>(index_) * frame_ms_;
    if (options_.realtime) {
      if (index_ == 0) {
        wall_start_ = SteadyClock::now();
        base_ms_ = NowMs();
      }
      const double ahead = offset_ms - MsSince(wall_start_);
      if (ahead > 0 && !SleepFor(stop, static_cast<int64_t>(ahead))) return SourceRead::kEnd;
    }
    const auto start = SteadyClock::now();
    // Always a fresh buffer: tracks keep earlier frames for their best crop,
    // and reading into a shared Mat would overwrite those pixels.
    cv::Mat bgr;
    bool ok = false;
    try {
      ok = cap_->Read(bgr) && !bgr.empty();
    } catch (const cv::Exception& e) {
      NoteError(options_.label, "decoding " + path_ + " failed: " + e.what());
    }
    if (!ok) {
      spdlog::info("{}: end of {} after {} frames", options_.label, path_, index_);
      return SourceRead::kEnd;
    }
    frame.bgr = std::move(bgr);
    frame.decode_ms = MsSince(start);
    frame.captured_ms = base_ms_ + static_cast<int64_t>(offset_ms);
    frame.clock = options_.realtime ? CaptureClock::kReplayStart : CaptureClock::kFileStart;
    frame.name.clear();
    ++index_;
    return SourceRead::kFrame;
  }

 private:
  VideoFileSource(SourceOptions options, std::unique_ptr<VideoCapture> cap)
      : options_(std::move(options)), cap_(std::move(cap)) {}

  const SourceOptions options_;
  std::string path_;
  const std::unique_ptr<VideoCapture> cap_;
  double frame_ms_ = 40;
  int64_t base_ms_ = 0;
  int64_t index_ = 0;
  SteadyClock::time_point wall_start_;
};

// A folder that photos are dropped into. A photo is read once it has been
// unchanged for settle_ms across two scans (so half-written files wait), then
// moved to processed/ once its sightings are with the sink; unreadable files
// go to rejected/. Writers should still write under a dot- or .tmp/.part name
// and rename into place, which is atomic.
class DropFolderSource : public FrameSource {
 public:
  static Result<std::unique_ptr<FrameSource>> Open(const std::string& dir,
                                                   const SourceOptions& options) {
    std::error_code ec;
    for (const char* sub : {"processed", "rejected"}) {
      fs::create_directories(fs::path(dir) / sub, ec);
      if (ec)
        return Status::IoError("cannot create " + (fs::path(dir) / sub).string() + ": " +
                               ec.message());
    }
    return std::unique_ptr<FrameSource>(new DropFolderSource(dir, options));
  }

  bool stills() const override { return true; }

  Result<SourceRead> Next(Frame& frame, std::stop_token stop) override {
    while (!stop.stop_requested()) {
      bool any = false;
      const std::string path = Scan(any);
      if (!path.empty()) {
        const auto start = SteadyClock::now();
        auto image = ReadImageFile(path, options_.limits);
        if (!image.ok()) {
          if (image.status().code() != Status::Code::kNotFound)
            Reject(path, image.status().message());
          continue;
        }
        frame.bgr = std::move(image).value();
        frame.decode_ms = MsSince(start);
        frame.captured_ms = observed_[path].mtime_ms;
        frame.clock = CaptureClock::kFileModified;
        frame.name = fs::path(path).filename().string();
        current_ = path;
        return SourceRead::kFrame;
      }
      if (options_.once && !any) return SourceRead::kEnd;
      if (!SleepFor(stop, options_.poll_ms)) break;
      return SourceRead::kIdle;
    }
    return SourceRead::kEnd;
  }

  void Done(const Frame& frame, const Status& outcome) override {
    if (current_.empty() || fs::path(current_).filename() != frame.name) return;
    const std::string path = std::exchange(current_, "");
    if (outcome.ok()) {
      MoveInto("processed", path);
      return;
    }
    // Its sightings did not all reach the sink (e.g. the spool is full): keep
    // the photo where it is for the next run rather than lose it.
    skip_.insert(path);
    NoteError(options_.label, "left " + path + " in place for the next run: " + outcome.message());
  }

 private:
  struct Observation {
    int64_t size = -1;
    int64_t mtime_ms = 0;
    bool operator==(const Observation&) const = default;
  };

  DropFolderSource(std::string dir, SourceOptions options)
      : dir_(std::move(dir)), options_(std::move(options)) {}

  static bool Ignored(const std::string& name) {
    auto ends_with = [&](const char* suffix) { return name.ends_with(suffix); };
    return name.empty() || name[0] == '.' || ends_with(".tmp") || ends_with(".part") ||
           ends_with(".crdownload");
  }

  // The oldest photo ready to read, or "". `any` tells whether the folder
  // holds any candidate at all (ready or still settling).
  std::string Scan(bool& any) {
    std::map<std::string, Observation> seen;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir_, ec)) {
      const std::string path = entry.path().string();
      struct stat st {};
      if (Ignored(entry.path().filename().string()) || skip_.count(path) ||
          ::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
        continue;
      seen[path] = {static_cast<int64_t>(st.st_size), MtimeMs(st)};
    }
    if (ec) NoteError(options_.label, "cannot list " + dir_ + ": " + ec.message());
    const int64_t now = NowMs();
    std::string best;
    int64_t best_mtime = 0;
    for (const auto& [path, obs] : seen) {
      auto before = observed_.find(path);
      const bool stable = before != observed_.end() && before->second == obs;
      if (!stable || now - obs.mtime_ms < options_.settle_ms) continue;
      if (best.empty() || obs.mtime_ms < best_mtime) best = path, best_mtime = obs.mtime_ms;
    }
    any = !seen.empty();
    observed_ = std::move(seen);
    return best;
  }

  void Reject(const std::string& path, const std::string& why) {
    NoteError(options_.label, "rejected " + path + ": " + why);
    MoveInto("rejected", path);
  }

  // Moves `path` into the subfolder under a free name; a file that cannot be
  // moved is skipped for the rest of the run so it is not processed again.
  void MoveInto(const char* sub, const std::string& path) {
    const fs::path from(path);
    const fs::path folder = fs::path(dir_) / sub;
    fs::path to = folder / from.filename();
    std::error_code ec;
    for (int i = 1; fs::exists(to, ec); ++i)
      to = folder / (from.stem().string() + "-" + std::to_string(i) + from.extension().string());
    fs::rename(from, to, ec);
    if (ec) {
      skip_.insert(path);
      NoteError(options_.label, "cannot move " + path + " to " + to.string() + ": " + ec.message());
    }
    observed_.erase(path);
  }

  const std::string dir_;
  const SourceOptions options_;
  std::map<std::string, Observation> observed_;  // the last scan, to see which files settled
  std::set<std::string> skip_;
  std::string current_;  // the photo handed out by the last Next
};

}  // namespace

SourceKind ClassifySource(const std::string& spec) {
  if (AllDigits(spec) || spec.starts_with("/dev/video")) return SourceKind::kDevice;
  if (spec.find("://") != std::string::npos || spec.find(" ! ") != std::string::npos)
    return SourceKind::kStream;
  std::error_code ec;
  if (fs::is_directory(spec, ec)) return SourceKind::kDropFolder;
  return SourceKind::kVideoFile;
}

const char* ToString(SourceKind kind) {
  switch (kind) {
    case SourceKind::kDevice: return "device";
    case SourceKind::kStream: return "stream";
    case SourceKind::kVideoFile: return "video file";
    case SourceKind::kDropFolder: return "drop folder";
  }
  return "unknown";
}

std::string RedactSource(const std::string& spec) {
  const size_t scheme = spec.find("://");
  if (scheme == std::string::npos) return spec;
  const size_t host = scheme + 3;
  const size_t at = spec.find('@', host);
  const size_t slash = spec.find('/', host);
  if (at == std::string::npos || (slash != std::string::npos && at > slash)) return spec;
  return spec.substr(0, host) + "***" + spec.substr(at);
}

void FrameSource::Done(const Frame&, const Status&) {}

int64_t FrameSource::errors() const {
  std::lock_guard lock(error_mu_);
  return errors_;
}

std::string FrameSource::last_error() const {
  std::lock_guard lock(error_mu_);
  return last_error_;
}

void FrameSource::NoteError(const std::string& label, const std::string& message) {
  spdlog::warn("{}: {}", label, message);
  std::lock_guard lock(error_mu_);
  ++errors_;
  last_error_ = message;
}

Result<std::unique_ptr<FrameSource>> OpenFrameSource(const std::string& spec,
                                                     const SourceOptions& options) {
  if (spec.empty()) return Status::InvalidArgument("camera '" + options.label + "' has no source");
  switch (ClassifySource(spec)) {
    case SourceKind::kDevice:
      return LiveSource::Create(spec, options, [spec](VideoCapture& cap) {
        return AllDigits(spec) ? cap.OpenDevice(std::stoi(spec), cv::CAP_V4L2)
                               : cap.Open(spec, cv::CAP_V4L2, {});
      });
    case SourceKind::kStream:
      return LiveSource::Create(spec, options, [spec](VideoCapture& cap) {
        if (spec.find(" ! ") != std::string::npos) return cap.Open(spec, cv::CAP_GSTREAMER, {});
        const std::vector<int> params = {cv::CAP_PROP_OPEN_TIMEOUT_MSEC, kOpenTimeoutMs,
                                         cv::CAP_PROP_READ_TIMEOUT_MSEC, kReadTimeoutMs};
        return cap.Open(spec, cv::CAP_FFMPEG, params);
      });
    case SourceKind::kVideoFile: return VideoFileSource::Open(spec, options);
    case SourceKind::kDropFolder: return DropFolderSource::Open(spec, options);
  }
  return Status::Internal("unknown source kind");
}

}  // namespace concierge
