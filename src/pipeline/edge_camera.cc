#include "pipeline/edge_camera.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>

#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>

#include "vision/image_io.h"

namespace concierge {

namespace {

using SteadyClock = std::chrono::steady_clock;

double MsBetween(SteadyClock::time_point a, SteadyClock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

Histogram& StageSeconds(const char* stage) {
  return Metrics().histogram("concierge_stage_seconds", "Time spent per item in each stage",
                             {{"stage", stage}});
}

TrackerOptions MakeTrackerOptions(const EdgeConfig& edge, bool stills) {
  TrackerOptions options;
  options.timeout_s = edge.track_timeout_s;
  options.publish_quality = edge.publish_quality;
  options.update_gain = edge.update_gain;
  // A photo shows each face once; in video a face must be seen twice to count.
  options.min_hits = stills ? 1 : 2;
  options.views = stills ? 1 : edge.views_per_sighting;
  return options;
}

}  // namespace

ViewStrip ComposeViews(const std::vector<const TrackedFace*>& views, float margin) {
  ViewStrip strip;
  if (views.empty()) return strip;
  const float face_px = std::min(static_cast<float>(kMaxFacePx), views[0]->face.box.h);
  std::vector<cv::Mat> crops;
  for (const TrackedFace* v : views) {
    const Box& b = v->face.box;
    const cv::Rect r = cv::Rect(cv::Rect2f(b.x - margin * b.w, b.y - margin * b.h,
                                           b.w * (1 + 2 * margin), b.h * (1 + 2 * margin))) &
                       cv::Rect(0, 0, v->frame.cols, v->frame.rows);
    if (r.width < 2 || r.height < 2 || b.h < 1) continue;
    const double f = face_px / b.h;
    cv::Mat crop;
    cv::resize(v->frame(r), crop, cv::Size(), f, f, f < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
    if (crop.empty()) continue;
    strip.faces.push_back({static_cast<float>((b.x - r.x) * f), static_cast<float>((b.y - r.y) * f),
                           static_cast<float>(b.w * f), static_cast<float>(b.h * f)});
    crops.push_back(std::move(crop));
  }
  if (crops.empty()) return strip;
  int width = 0, height = 0;
  for (const cv::Mat& c : crops) {
    width += c.cols;
    height = std::max(height, c.rows);
  }
  strip.picture = cv::Mat(height, width, CV_8UC3, cv::Scalar::all(0));
  int x = 0;
  for (size_t i = 0; i < crops.size(); ++i) {
    crops[i].copyTo(strip.picture(cv::Rect(x, 0, crops[i].cols, crops[i].rows)));
    strip.faces[i].x += static_cast<float>(x);
    x += crops[i].cols;
  }
  return strip;
}

EdgeCamera::EdgeCamera(const CameraConfig& camera, const EdgeConfig& edge, FaceEngine* engine,
                       SightingSink sink, bool stills, CameraFeed* feed)
    : camera_(camera),
      edge_(edge),
      engine_(engine),
      sink_(std::move(sink)),
      stills_(stills),
      feed_(feed),
      tracker_(MakeTrackerOptions(edge, stills)),
      last_frame_wall_(SteadyClock::now()),
      fps_window_start_(SteadyClock::now()),
      frames_total_(Metrics().counter("concierge_frames_total", "Frames read by the edge",
                                      {{"camera", camera.name}})),
      faces_total_(Metrics().counter("concierge_faces_detected_total",
                                     "Faces the edge detector found", {{"camera", camera.name}})),
      published_total_(Metrics().counter("concierge_edge_sightings_published_total",
                                         "Sightings the edge handed to the bus",
                                         {{"camera", camera.name}})),
      decode_seconds_(StageSeconds("decode")),
      detect_seconds_(StageSeconds("detect")),
      track_seconds_(StageSeconds("track")) {
  stats_.camera = camera.name;
}

Result<std::vector<TrackedFace>> EdgeCamera::Detect(const Frame& frame) {
  ASSIGN_OR_RETURN(auto detections, engine_->detector().Detect(frame.bgr));
  ++stats_.frames_detected;
  std::vector<TrackedFace> faces;
  for (const auto& d : detections) {
    // Liveness and the human-face check run once per published view (ToSighting).
    auto observed = engine_->Describe(
        frame.bgr, d, {.embed = EmbedWith::kNone, .anti_spoof = false, .check_human = false});
    if (!observed.ok()) {
      spdlog::debug("{}: skipping a face: {}", camera_.name, observed.status().ToString());
      continue;
    }
    TrackedFace face;
    face.appearance = FaceAppearance(frame.bgr, observed->box);
    face.face = std::move(observed).value();
    face.frame = frame.bgr;
    face.captured_ms = frame.captured_ms;
    face.clock = frame.clock;
    faces.push_back(std::move(face));
  }
  stats_.faces += static_cast<int64_t>(faces.size());
  faces_total_.Inc(static_cast<double>(faces.size()));
  return faces;
}

Status EdgeCamera::Process(const Frame& frame) {
  const auto start = SteadyClock::now();
  ++stats_.frames;
  frames_total_.Inc();
  decode_seconds_.Observe(frame.decode_ms / 1000);
  stats_.last_frame_ms = frame.captured_ms;
  last_frame_ms_ = frame.captured_ms;
  last_frame_wall_ = start;
  decode_total_ += frame.decode_ms;

  std::optional<std::vector<TrackedFace>> faces;  // set when the detector ran
  std::vector<TrackPublication> due;
  double detect_ms = 0;
  Status status;
  const int64_t interval_ms =
      camera_.detect_fps > 0 ? std::llround(1000.0 / camera_.detect_fps) : 0;
  if (stills_ || frame.captured_ms >= next_detect_ms_) {
    // Keeps the configured rate on average; after a gap in the frames it
    // restarts from now instead of catching up.
    next_detect_ms_ = next_detect_ms_ == INT64_MIN
                          ? frame.captured_ms + interval_ms
                          : std::max(next_detect_ms_ + interval_ms, frame.captured_ms);
    const auto t = SteadyClock::now();
    if (!stills_ && camera_.motion_gate && !gate_.Changed(frame.bgr)) {
      ++stats_.frames_skipped_still;
      due = tracker_.Touch(frame.captured_ms);
    } else if (auto found = Detect(frame); found.ok()) {
      faces = std::move(found).value();
    } else {
      NoteError(found.status());
      status = found.status();
    }
    detect_ms = MsBetween(t, SteadyClock::now());
    detect_seconds_.Observe(detect_ms / 1000);
  }
  if (faces) due = tracker_.Update(std::move(*faces), frame.captured_ms);
  auto ended = stills_ ? tracker_.Flush() : tracker_.Expire(frame.captured_ms);
  due.insert(due.end(), std::make_move_iterator(ended.begin()),
             std::make_move_iterator(ended.end()));
  if (tracker_.confirmed_tracks() > stats_.tracks)
    spdlog::info("{}: following a face (track {} of this run)", camera_.name,
                 tracker_.confirmed_tracks());
  stats_.tracks = tracker_.confirmed_tracks();
  const Status published = Publish(std::move(due));
  if (status.ok()) status = published;

  const auto end = SteadyClock::now();
  const double track_ms = MsBetween(start, end) - detect_ms;
  detect_total_ += detect_ms;
  track_total_ += track_ms;
  track_seconds_.Observe(track_ms / 1000);
  const double n = static_cast<double>(stats_.frames);
  stats_.decode_ms = decode_total_ / n;
  stats_.detect_ms = detect_total_ / n;
  stats_.track_ms = track_total_ / n;
  ++fps_window_frames_;
  const double window_ms = MsBetween(fps_window_start_, end);
  if (window_ms >= 1000) {
    stats_.fps = 1000.0 * static_cast<double>(fps_window_frames_) / window_ms;
    fps_window_start_ = end;
    fps_window_frames_ = 0;
  }
  if (feed_ && feed_->PreviewDue()) feed_->PutPreview(frame.bgr, tracker_.OpenBoxes());
  if (status.ok()) stats_.last_error.clear();  // an error shows until a frame goes through
  return status;
}

Status EdgeCamera::Idle() {
  const auto since =
      std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - last_frame_wall_);
  return Publish(tracker_.Expire(last_frame_ms_ + since.count()));
}

Status EdgeCamera::Flush() { return Publish(tracker_.Flush()); }

Result<std::optional<Sighting>> EdgeCamera::ToSighting(const TrackPublication& publication) {
  const TrackedFace& best = publication.best;
  // The human-face check and anti-spoofing cost more than landmarks and
  // quality together, so they run on the views being sent, not on every detection.
  // Liveness only on video: a still is a photo by nature, and the model flags
  // half of the live faces in photos (BENCHMARKS.md, `eval live`).
  auto checked = engine_->Describe(best.frame, Detection{best.face.box, best.face.detector_score},
                                   {.embed = EmbedWith::kNone, .anti_spoof = !stills_});
  if (!checked.ok()) return checked.status();
  if (!checked->human) {
    ++stats_.not_human;
    spdlog::info("{}: track {} is not a human face (check {:.2f}); not sent", camera_.name,
                 publication.track, checked->human_score);
    return std::optional<Sighting>();
  }
  std::vector<const TrackedFace*> views{&best};
  for (const TrackedFace& other : publication.others) {
    auto v = engine_->Describe(other.frame, Detection{other.face.box, other.face.detector_score},
                               {.embed = EmbedWith::kNone, .anti_spoof = false});
    if (v.ok() && v->human) views.push_back(&other);
  }
  Sighting s;
  s.id = NewSightingId();
  s.camera = camera_.name;
  s.site = camera_.site;
  s.track = publication.track;
  s.seq = publication.seq;
  s.captured_ms = best.captured_ms;
  s.capture_clock = best.clock;
  s.box = best.face.box;
  s.detector_score = best.face.detector_score;
  s.quality = best.face.quality;
  s.live_score = checked->live_score;
  s.human_score = std::max(0.f, checked->human_score);
  ViewStrip strip = ComposeViews(views, edge_.crop_margin);
  if (strip.picture.empty()) return Status::Internal("face box lies outside its frame");
  s.faces = std::move(strip.faces);
  ASSIGN_OR_RETURN(s.jpeg, EncodeJpeg(strip.picture, edge_.jpeg_quality));
  return std::optional<Sighting>(std::move(s));
}

Status EdgeCamera::Publish(std::vector<TrackPublication> due) {
  Status first;
  for (const auto& publication : due) {
    auto sighting = ToSighting(publication);
    if (sighting.ok() && !sighting->has_value()) continue;
    Status st = sighting.ok() ? sink_(**sighting) : sighting.status();
    if (!st.ok()) {
      NoteError(st);
      if (first.ok()) first = st;
      continue;
    }
    ++stats_.sightings;
    published_total_.Inc();
    const Sighting& sent = **sighting;
    spdlog::info("{}: sighting {} track {} seq {} views {} quality {:.2f} live {:.2f}",
                 camera_.name, sent.id, sent.track, sent.seq, sent.faces.size(),
                 sent.quality.score, sent.live_score);
  }
  return first;
}

void EdgeCamera::NoteError(const Status& status) {
  ++stats_.errors;
  stats_.last_error = status.ToString();
  spdlog::warn("{}: {}", camera_.name, stats_.last_error);
}

}  // namespace concierge
