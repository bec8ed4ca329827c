// Stage 3, recognise / guess: embed the stored picture again (never trusting a
// vector from the edge; its face boxes spare a second detection), decide who
// it is (matcher.h), move the picture to known/<person>/… or unknown/…, record
// the decision with its visit, and let the gallery learn confident faces.
// Resumable: after a crash at any point, processing the sighting again
// finishes the job without duplicating anything.
#pragma once

#include <map>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/metrics.h"
#include "core/status.h"
#include "pipeline/events.h"
#include "pipeline/gallery.h"
#include "pipeline/matcher.h"
#include "pipeline/visits.h"
#include "store/face_collection.h"
#include "store/object_store.h"
#include "store/sighting_store.h"
#include "vision/face_engine.h"
#include "vision/image_io.h"

namespace concierge {

// Needs at least one detection. The index of the face a crop was cut around:
// the largest, and among faces of nearly the same size the most central.
size_t PickCropFace(const std::vector<Detection>& detections, int width, int height);

// What the server saw in one sighting's picture.
struct CropRecognition {
  Decision decision = Decision::kRejected;  // known, unknown, or rejected (no human face)
  std::string rejection;                    // why, for kRejected
  std::optional<std::string> person_id;     // for kKnown
  std::optional<float> similarity;          // best match, also when below the threshold
  Embedding embedding;                      // primary model, over the views; empty for kRejected
  MatchDecision match;                      // how the decision was made
  std::vector<FaceView> views;              // the views described (the best first)
};

// Not thread-safe (the engine is shared but the recogniser keeps no state;
// one per worker keeps stages independent).
class CropRecogniser {
 public:
  // Needs an engine and a matcher that outlive it.
  CropRecogniser(FaceEngine* engine, Matcher* matcher, ImageLimits limits)
      : engine_(engine), matcher_(matcher), limits_(limits) {}

  // Decodes the picture and recognises its face. With `faces` (the edge's
  // boxes, best view first) nothing is detected again and the other views
  // are only looked at when the first is not clear-cut; without, the face
  // the crop was cut around is detected. The human-face check runs unless
  // the edge's `human_score` vouches for the face. kRejected when there is
  // no human face; errors only for undecodable bytes or engine failures.
  Result<CropRecognition> Recognise(const std::string& jpeg, const std::vector<Box>& faces,
                                    float human_score);

  FaceEngine& engine() { return *engine_; }

 private:
  // Describes the face at `box`: one landmark pass, the primary embedding.
  Result<FaceView> View(const cv::Mat& image, const Detection& box, bool check_human);

  FaceEngine* engine_;
  Matcher* matcher_;
  ImageLimits limits_;
};

// The face of a stored sighting picture, found again (at its first box, else
// the face the crop was cut around) and described with every embedder's
// vector, for training. Recognition found it human already. kNoFace when
// there is no face to find.
Result<FaceView> DescribeSightingFace(FaceEngine& engine, const std::string& jpeg,
                                      const std::vector<Box>& faces, const ImageLimits& limits);

// The object key a decided sighting's picture belongs under.
std::string DecidedImageKey(const SightingRecord& sighting, Decision decision,
                            const std::optional<std::string>& person_id);

// Runs recognition for pending sightings. Not thread-safe (one per worker);
// several stages may share the stores, visit tracker and events.
class RecognitionStage {
 public:
  // Needs everything to outlive the stage; `events` and `learner` may be null.
  // With `embeddings_only` (RetentionConfig) a decided sighting keeps no
  // picture: it is deleted once the decision is recorded, and an unknown
  // face's record keeps every embedder's vector instead, to train from.
  RecognitionStage(CropRecogniser recogniser, ObjectStore* objects, SightingStore* sightings,
                   VisitTracker* visits, EventStream* events, GalleryLearner* learner,
                   bool embeddings_only = false)
      : recogniser_(std::move(recogniser)),
        embeddings_only_(embeddings_only),
        learner_(learner),
        objects_(objects),
        sightings_(sightings),
        visits_(visits),
        events_(events),
        seconds_(Metrics().histogram("concierge_stage_seconds", "Time spent in a server stage",
                                     {{"stage", "recognise"}})),
        capture_to_decision_(Metrics().histogram(
            "concierge_capture_to_decision_seconds",
            "From a sighting's capture at the edge to this server's decision")) {}

  // Needs the id of a recorded sighting. Decides it if still pending (no-op
  // otherwise) and returns it as stored. Safe to repeat after a crash at any
  // step, or concurrently with another server doing the same. Timed as
  // concierge_stage_seconds{stage="recognise"}; decisions it makes are counted
  // in concierge_sightings_total{camera,decision}.
  Result<SightingRecord> Process(const std::string& sighting_id);

 private:
  // The key where a pending sighting's picture is now: its incoming key, or,
  // after a crash between move and record, its decided location.
  Result<std::string> Locate(const SightingRecord& sighting);
  void Announce(const DecisionResult& result);
  // Every embedder's vector of a described view (the missing ones are added).
  Result<Descriptor> EveryEmbedding(FaceView& view);
  Result<SightingRecord> Decide(const std::string& sighting_id);

  CropRecogniser recogniser_;
  const bool embeddings_only_;
  GalleryLearner* learner_;
  ObjectStore* objects_;
  SightingStore* sightings_;
  VisitTracker* visits_;
  EventStream* events_;
  Histogram& seconds_;
  Histogram& capture_to_decision_;
  std::map<std::pair<std::string, Decision>, Counter*> decided_;  // by camera and decision
};

}  // namespace concierge
