#include "pipeline/camera_registry.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>

#include "vision/image_io.h"

namespace concierge {

namespace {

int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

const char* ToString(CameraState state) {
  switch (state) {
    case CameraState::kStarting: return "starting";
    case CameraState::kRunning: return "running";
    case CameraState::kReconnecting: return "reconnecting";
    case CameraState::kStopped: return "stopped";
    case CameraState::kError: return "error";
  }
  return "unknown";
}

CameraFeed::CameraFeed(std::string name, std::string site, std::string source_kind) {
  status_.name = std::move(name);
  status_.site = std::move(site);
  status_.source_kind = std::move(source_kind);
}

void CameraFeed::Update(const CameraStats& stats, CameraState state) {
  std::lock_guard lock(mu_);
  status_.state = state;
  status_.fps = stats.fps;
  status_.frames = stats.frames;
  status_.faces = stats.faces;
  status_.sightings = stats.sightings;
  status_.last_frame_ms = stats.last_frame_ms;
  status_.error = stats.last_error;
}

CameraStatus CameraFeed::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

bool CameraFeed::PreviewDue() const {
  if (watchers_.load(std::memory_order_relaxed) == 0) return false;
  return SteadyNowNs() >= next_preview_ns_.load(std::memory_order_relaxed);
}

void CameraFeed::PutPreview(const cv::Mat& bgr, const std::vector<Box>& faces) {
  next_preview_ns_.store(SteadyNowNs() + static_cast<int64_t>(1e9 / kPreviewFps),
                         std::memory_order_relaxed);
  const double scale = bgr.cols > kPreviewMaxWidth ? double(kPreviewMaxWidth) / bgr.cols : 1.0;
  cv::Mat view;
  if (scale < 1) cv::resize(bgr, view, cv::Size(), scale, scale, cv::INTER_AREA);
  else view = bgr.clone();
  const int thickness = std::max(2, view.cols / 320);
  for (const Box& b : faces) {
    const cv::Rect r(static_cast<int>(std::lround(b.x * scale)),
                     static_cast<int>(std::lround(b.y * scale)),
                     static_cast<int>(std::lround(b.w * scale)),
                     static_cast<int>(std::lround(b.h * scale)));
    cv::rectangle(view, r, cv::Scalar(0, 220, 0), thickness);
  }
  auto jpeg = EncodeJpeg(view, kPreviewJpegQuality);
  if (!jpeg.ok()) {
    spdlog::warn("{}: preview frame skipped: {}", status().name, jpeg.status().ToString());
    return;
  }
  {
    std::lock_guard lock(mu_);
    preview_jpeg_ = std::move(jpeg).value();
    ++preview_seq_;
  }
  preview_cv_.notify_all();
}

Result<std::unique_ptr<CameraFeed::Watch>> CameraFeed::WatchPreview() {
  int n = watchers_.load();
  do {
    if (n >= kMaxPreviewWatchers)
      return Status::Unavailable("camera " + status().name + " already has " +
                                 std::to_string(n) + " preview watchers");
  } while (!watchers_.compare_exchange_weak(n, n + 1));
  next_preview_ns_.store(0);  // the first frame is due at once
  return std::make_unique<Watch>(this);
}

void CameraFeed::Close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  preview_cv_.notify_all();
}

CameraFeed::Watch::~Watch() { feed_->watchers_.fetch_sub(1); }

std::optional<std::string> CameraFeed::Watch::Next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(feed_->mu_);
  const bool fresh = feed_->preview_cv_.wait_for(
      lock, timeout, [&] { return feed_->closed_ || feed_->preview_seq_ > seen_; });
  if (!fresh || feed_->closed_) return std::nullopt;
  seen_ = feed_->preview_seq_;
  return feed_->preview_jpeg_;
}

bool CameraFeed::Watch::closed() const {
  std::lock_guard lock(feed_->mu_);
  return feed_->closed_;
}

Result<CameraFeed*> CameraRegistry::Add(const std::string& name, const std::string& site,
                                        const std::string& source_kind) {
  std::lock_guard lock(mu_);
  auto [it, added] = feeds_.try_emplace(name);
  if (!added)
    return Status::AlreadyExists("camera name '" + name +
                                 "' is used twice; names must be unique across sites");
  it->second = std::make_unique<CameraFeed>(name, site, source_kind);
  return it->second.get();
}

Status CameraRegistry::Remove(const std::string& name) {
  std::lock_guard lock(mu_);
  const auto it = feeds_.find(name);
  if (it == feeds_.end()) return Status::NotFound("no camera '" + name + "'");
  it->second->Close();
  removed_.push_back(std::move(it->second));
  feeds_.erase(it);
  return Status::Ok();
}

CameraFeed* CameraRegistry::Find(const std::string& name) const {
  std::lock_guard lock(mu_);
  const auto it = feeds_.find(name);
  return it == feeds_.end() ? nullptr : it->second.get();
}

std::vector<CameraStatus> CameraRegistry::List() const {
  std::lock_guard lock(mu_);
  std::vector<CameraStatus> all;
  for (const auto& [name, feed] : feeds_) all.push_back(feed->status());
  return all;
}

void CameraRegistry::Close() {
  std::lock_guard lock(mu_);
  for (const auto& [name, feed] : feeds_) feed->Close();
}

}  // namespace concierge
