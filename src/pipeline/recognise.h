// Stage 3, recognise / guess: embed the stored crop again (never trusting a
// vector from the edge), search the face collection, move the picture to
// known/<person>/… or unknown/…, and record the decision with its visit.
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

// What the server saw in one crop.
struct CropRecognition {
  Decision decision = Decision::kRejected;  // known, unknown, or rejected (no face)
  std::optional<std::string> person_id;     // for kKnown
  std::optional<float> similarity;          // best match, also when below the threshold
  float live_score = -1;                    // measured on the crop; -1 if anti-spoofing is off
  Embedding embedding;                      // empty for kRejected
};

// Not thread-safe (the engine is not): one per worker thread.
class CropRecogniser {
 public:
  // Needs an engine and a collection that outlive it; kInvalidArgument for a
  // bad config.recognition.search_mode.
  static Result<CropRecogniser> Create(FaceEngine* engine, const FaceCollection* faces,
                                       const RecognitionConfig& config, ImageLimits limits);

  // Decodes the JPEG and recognises the crop's face. kRejected when no face is
  // found; errors only for undecodable bytes or engine failures.
  Result<CropRecognition> Recognise(const std::string& jpeg);

 private:
  CropRecogniser(FaceEngine* engine, const FaceCollection* faces, float threshold, SearchMode mode,
                 ImageLimits limits)
      : engine_(engine), faces_(faces), threshold_(threshold), mode_(mode), limits_(limits) {}

  FaceEngine* engine_;
  const FaceCollection* faces_;
  float threshold_;
  SearchMode mode_;
  ImageLimits limits_;
};

// The object key a decided sighting's picture belongs under.
std::string DecidedImageKey(const SightingRecord& sighting, Decision decision,
                            const std::optional<std::string>& person_id);

// Runs recognition for pending sightings. Not thread-safe (one per worker);
// several stages may share the stores, visit tracker and events.
class RecognitionStage {
 public:
  // Needs everything to outlive the stage; `events` may be null.
  RecognitionStage(CropRecogniser recogniser, ObjectStore* objects, SightingStore* sightings,
                   VisitTracker* visits, EventStream* events)
      : recogniser_(std::move(recogniser)),
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
  Result<SightingRecord> Decide(const std::string& sighting_id);

  CropRecogniser recogniser_;
  ObjectStore* objects_;
  SightingStore* sightings_;
  VisitTracker* visits_;
  EventStream* events_;
  Histogram& seconds_;
  Histogram& capture_to_decision_;
  std::map<std::pair<std::string, Decision>, Counter*> decided_;  // by camera and decision
};

}  // namespace concierge
