#include "pipeline/recognise.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "pipeline/ingest.h"

namespace concierge {

namespace {

// Faces at least this fraction of the largest one's area compete on centrality.
constexpr float kSimilarSize = 0.8f;
// Another server may move a picture while we work on it; re-read this often.
constexpr int kAttempts = 3;

std::string FormatOptional(const std::optional<float>& v) {
  return v ? std::to_string(*v) : "null";
}

}  // namespace

size_t PickCropFace(const std::vector<Detection>& detections, int width, int height) {
  float largest = 0;
  for (const auto& d : detections) largest = std::max(largest, d.box.area());
  size_t best = 0;
  float best_distance = INFINITY;
  for (size_t i = 0; i < detections.size(); ++i) {
    const Box& b = detections[i].box;
    if (b.area() < kSimilarSize * largest) continue;
    const float dx = b.x + b.w / 2 - width / 2.f, dy = b.y + b.h / 2 - height / 2.f;
    const float distance = dx * dx + dy * dy;
    if (distance < best_distance) {
      best_distance = distance;
      best = i;
    }
  }
  return best;
}

Result<FaceView> CropRecogniser::View(const cv::Mat& image, const Detection& box,
                                      bool check_human) {
  FaceView view{image, {}};
  ASSIGN_OR_RETURN(view.face, engine_->Describe(image, box,
                                                {.embed = EmbedWith::kPrimary,
                                                 .anti_spoof = false,
                                                 .check_human = check_human}));
  return view;
}

Result<CropRecognition> CropRecogniser::Recognise(const std::string& jpeg,
                                                  const std::vector<Box>& faces,
                                                  float human_score) {
  ASSIGN_OR_RETURN(cv::Mat image, DecodeImage(jpeg, limits_));
  CropRecognition r;
  std::vector<Detection> boxes;
  for (const Box& b : faces) boxes.push_back({b, 1.f});
  const bool vouched = !boxes.empty() && human_score >= 0.5f;
  if (boxes.empty()) {
    ASSIGN_OR_RETURN(auto detections, engine_->detector().Detect(image));
    if (detections.empty()) {
      r.rejection = "no face in the picture";
      return r;
    }
    boxes.push_back(detections[PickCropFace(detections, image.cols, image.rows)]);
  }
  ASSIGN_OR_RETURN(FaceView first, View(image, boxes[0], !vouched));
  if (!first.face.human) {
    r.rejection = "not a human face";
    return r;
  }
  r.views.push_back(std::move(first));
  // The track's other views, described only if the first is not clear-cut.
  const MoreViews more = [&]() -> Result<std::vector<FaceView>> {
    std::vector<FaceView> extra;
    for (size_t i = 1; i < boxes.size(); ++i) {
      ASSIGN_OR_RETURN(FaceView v, View(image, boxes[i], !vouched));
      if (v.face.human) extra.push_back(std::move(v));
    }
    return extra;
  };
  ASSIGN_OR_RETURN(r.match, matcher_->Decide(*engine_, r.views, boxes.size() > 1 ? more : nullptr));
  r.decision = r.match.person_id ? Decision::kKnown : Decision::kUnknown;
  r.person_id = r.match.person_id;
  r.similarity = r.match.similarity;
  if (const Embedding* primary = FindEmbedding(r.match.descriptor, engine_->embedders()[0].id))
    r.embedding = *primary;
  return r;
}

Result<FaceView> DescribeSightingFace(FaceEngine& engine, const std::string& jpeg,
                                      const std::vector<Box>& faces, const ImageLimits& limits) {
  ASSIGN_OR_RETURN(cv::Mat image, DecodeImage(jpeg, limits));
  Detection box{faces.empty() ? Box{} : faces.front(), 1.f};
  if (faces.empty()) {
    ASSIGN_OR_RETURN(auto detections, engine.detector().Detect(image));
    if (detections.empty()) return Status::NoFace("no face in the sighting's picture");
    box = detections[PickCropFace(detections, image.cols, image.rows)];
  }
  FaceView view{image, {}};
  ASSIGN_OR_RETURN(view.face, engine.Describe(image, box,
                                              {.embed = EmbedWith::kAll,
                                               .anti_spoof = false,
                                               .check_human = false}));
  return view;
}

std::string DecidedImageKey(const SightingRecord& s, Decision decision,
                            const std::optional<std::string>& person_id) {
  switch (decision) {
    case Decision::kPending: return SightingImageKey("incoming", s.id, s.captured_ms);
    case Decision::kKnown:
      return SightingImageKey("known/" + person_id.value_or(""), s.id, s.captured_ms);
    case Decision::kUnknown: return SightingImageKey("unknown", s.id, s.captured_ms);
    case Decision::kRejected: return SightingImageKey("rejected", s.id, s.captured_ms);
  }
  return s.image_key;
}

Result<std::string> RecognitionStage::Locate(const SightingRecord& s) {
  ASSIGN_OR_RETURN(const bool at_recorded_key, objects_->Exists(s.image_key));
  if (at_recorded_key) return s.image_key;
  for (Decision d : {Decision::kUnknown, Decision::kRejected}) {
    const std::string key = DecidedImageKey(s, d, std::nullopt);
    ASSIGN_OR_RETURN(const bool there, objects_->Exists(key));
    if (there) return key;
  }
  // known/<person>/<date>/<id>.jpg for some person: only after a crash, so a listing is fine.
  const std::string prefix = "known/";
  const std::string suffix = SightingImageKey("", s.id, s.captured_ms);  // "/<date>/<id>.jpg"
  ASSIGN_OR_RETURN(auto known, objects_->List(prefix));
  for (const auto& key : known) {
    if (key.size() <= prefix.size() + suffix.size() ||
        key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string person =
        key.substr(prefix.size(), key.size() - suffix.size() - prefix.size());
    if (person.find('/') == std::string::npos) return key;
  }
  return Status::NotFound("the picture of sighting " + s.id + " is missing (expected " +
                          s.image_key + ")");
}

Result<Descriptor> RecognitionStage::EveryEmbedding(FaceView& view) {
  FaceEngine& engine = recogniser_.engine();
  for (size_t i = 0; i < engine.embedders().size(); ++i)
    RETURN_IF_ERROR(engine.AddEmbedding(view.image, i, view.face));
  return view.face.embeddings;
}

void RecognitionStage::Announce(const DecisionResult& d) {
  const SightingRecord& s = d.sighting;
  spdlog::info(
      "recognise: id={} camera={}/{} decision={} person={} similarity={} live={:.2f} "
      "visit={} key={}",
      s.id, s.site, s.camera, ToString(s.decision), s.person_id.value_or("null"),
      FormatOptional(s.similarity), s.live_score, s.visit_id ? std::to_string(*s.visit_id) : "null",
      s.image_key);
  Counter*& decided = decided_[{s.camera, s.decision}];
  if (!decided)
    decided = &Metrics().counter("concierge_sightings_total", "Sightings decided by this server",
                                 {{"camera", s.camera}, {"decision", ToString(s.decision)}});
  decided->Inc();
  capture_to_decision_.Observe(static_cast<double>(std::max<int64_t>(0, NowMs() - s.captured_ms)) /
                               1000.0);
  if (!events_) return;
  events_->Publish(SightingEvent{SightingEvent::Kind::kDecided, s});
  if (d.visit)
    events_->Publish(VisitEvent{
        d.visit_started ? VisitEvent::Kind::kStarted : VisitEvent::Kind::kUpdated, *d.visit, s.id});
}

Result<SightingRecord> RecognitionStage::Process(const std::string& sighting_id) {
  const auto start = std::chrono::steady_clock::now();
  Result<SightingRecord> result = Decide(sighting_id);
  seconds_.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return result;
}

Result<SightingRecord> RecognitionStage::Decide(const std::string& sighting_id) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    ASSIGN_OR_RETURN(SightingRecord s, sightings_->Get(sighting_id));
    if (s.decision != Decision::kPending) return s;
    ASSIGN_OR_RETURN(const std::string from, Locate(s));
    auto bytes = objects_->Get(from);
    if (bytes.status().code() == Status::Code::kNotFound) continue;  // moved meanwhile
    if (!bytes.ok()) return bytes.status();

    auto seen = recogniser_.Recognise(*bytes, s.faces, s.human_score);
    const Status::Code code = seen.status().code();
    // Ingest checks the picture's structure, not its pixels: a crop whose
    // image data does not decode (or was damaged at rest) is rejected here.
    if (code == Status::Code::kInvalidArgument || code == Status::Code::kTooLarge) {
      spdlog::warn("recognise: id={} stored picture {} is unreadable: {}", s.id, from,
                   seen.status().message());
      CropRecognition unreadable;
      unreadable.rejection = "picture cannot be decoded: " + seen.status().message();
      seen = std::move(unreadable);
    }
    if (!seen.ok()) return seen.status();
    if (!seen->rejection.empty())
      spdlog::info("recognise: id={} rejected: {}", s.id, seen->rejection);

    SightingOutcome outcome;
    outcome.id = s.id;
    outcome.decision = seen->decision;
    outcome.person_id = seen->person_id;
    outcome.similarity = seen->similarity;
    // The edge measured liveness with the whole frame around the face.
    outcome.live_score = s.live_score;
    outcome.embedding = std::move(seen->embedding);
    if (embeddings_only_) {
      // No picture outlives the decision; a tag trains from these vectors.
      if (outcome.decision == Decision::kUnknown) {
        ASSIGN_OR_RETURN(outcome.descriptor, EveryEmbedding(seen->views.front()));
      }
    } else {
      outcome.image_key = DecidedImageKey(s, outcome.decision, outcome.person_id);
    }
    // Copy, record, then delete: after a crash at any point the row names a
    // picture that exists. A copy left behind is swept at the next start.
    const bool relocate = !embeddings_only_ && from != outcome.image_key;
    if (relocate) RETURN_IF_ERROR(objects_->Put(outcome.image_key, *bytes));
    ASSIGN_OR_RETURN(DecisionResult result, visits_->Record(s, outcome));
    if (result.applied) {
      Announce(result);
      const bool drop = relocate || (embeddings_only_ && result.sighting.image_key != from);
      if (const Status gone = drop ? objects_->Delete(from) : Status::Ok(); !gone.ok())
        spdlog::warn("recognise: id={} could not remove {} (swept at the next start): {}", s.id,
                     from, gone.message());
      if (learner_ && !seen->views.empty()) {
        // Learning is a bonus: a failure costs the face, never the decision.
        auto learned =
            learner_->Consider(recogniser_.engine(), seen->match, seen->views[0], s.live_score, s.id);
        if (!learned.ok())
          spdlog::warn("gallery: could not learn from sighting {}: {}", s.id,
                       learned.status().message());
      }
    } else if (relocate && result.sighting.image_key != outcome.image_key) {
      // Another server decided first, differently: its copy is the one recorded.
      RETURN_IF_ERROR(objects_->Delete(outcome.image_key));
    }
    return std::move(result.sighting);
  }
  return Status::Unavailable("the picture of sighting " + sighting_id +
                             " kept moving while it was being recognised");
}

}  // namespace concierge
