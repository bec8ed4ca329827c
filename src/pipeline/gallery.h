// A person's gallery: the faces the collection compares against. One way to
// make a gallery face from a picture (enrolment, tags, learning), and the
// gallery that learns: confidently recognised faces join it, capped per
// person, keeping the most diverse set, so recall grows with use.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include <opencv2/core.hpp>

#include "core/config.h"
#include "core/status.h"
#include "core/types.h"
#include "pipeline/matcher.h"
#include "store/face_collection.h"
#include "store/object_store.h"
#include "store/sighting_store.h"
#include "vision/face_engine.h"

namespace concierge {

// Needs a human face described from `image`. Adds every embedder's vector to
// `face`, stores the face with a margin as faces/<person>/<sha>.jpg in
// `pictures` and returns the record to add (its box is in that picture's
// pixels). With `pictures` null (embeddings-only mode) no picture is kept and
// the record has no image key. The caller deletes the picture if it does not
// add the face.
Result<FaceRecord> MakeGalleryFace(FaceEngine& engine, ObjectStore* pictures,
                                   const std::string& person_id, const cv::Mat& image,
                                   FaceObservation& face, FaceOrigin origin);

// MakeGalleryFace, then FaceCollection::AddFace; no orphan picture on
// failure. `sighting_id` (may be empty) is where a tagged or learned face came from.
Result<int64_t> AddGalleryFace(FaceEngine& engine, ObjectStore* pictures, FaceCollection& faces,
                               const std::string& person_id, const cv::Mat& image,
                               FaceObservation& face, FaceOrigin origin,
                               const std::string& sighting_id = "");

// The face of a sighting that kept no picture (embeddings-only mode), made
// from its stored vectors (SightingRecord::descriptor: every embedder's) and
// added as FaceCollection::AddFace does; kInvalidArgument when a model's
// vector is missing.
Result<int64_t> AddGalleryVectors(FaceCollection& faces, const std::string& person_id,
                                  const SightingRecord& sighting, FaceOrigin origin);

// Thread-safe (one decision at a time). Needs parts that outlive it.
class GalleryLearner {
 public:
  // With `keep_pictures` false (embeddings-only mode) learned faces keep no
  // picture; a replaced face's picture from before is still deleted.
  GalleryLearner(FaceCollection* faces, ObjectStore* objects, const QualityGate& gate, int cap,
                 float min_live_score, bool keep_pictures = true)
      : faces_(faces),
        objects_(objects),
        gate_(gate),
        cap_(cap),
        min_live_(min_live_score),
        keep_pictures_(keep_pictures) {}

  // Considers the best view of a face the matcher named confidently. It joins
  // the person's gallery (origin "learned") when it passes the quality gate,
  // looks live (or liveness was not measured), is not a near copy of a face
  // already there, and either the gallery is below the cap or it is more
  // diverse than the most redundant learned face, which it then replaces.
  // Enrolled and tagged faces are never replaced. Returns the new face id, or
  // 0 when the face was not taken. `engine` (the caller's) embeds it.
  Result<int64_t> Consider(FaceEngine& engine, const MatchDecision& decision, FaceView& best,
                           float live_score, const std::string& sighting_id);

 private:
  FaceCollection* faces_;
  ObjectStore* objects_;
  QualityGate gate_;
  int cap_;
  float min_live_;
  bool keep_pictures_;
  std::mutex mu_;
};

}  // namespace concierge
