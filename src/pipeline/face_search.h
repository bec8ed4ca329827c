// Search by a photo: every visit in which a face was seen, known or not.
// Compares one probe vector with the vectors decided sightings kept; what
// retention deleted is not found. Stateless; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/types.h"
#include "store/sighting_store.h"
#include "vision/face_engine.h"

namespace concierge {

// One visit that holds the face.
struct VisitHit {
  VisitRecord visit;
  float similarity = 0;     // the best cosine of its sightings to the probe
  std::string sighting_id;  // the sighting that gave it
};

// The probe for a search photo: the primary vector of its largest human face;
// kNoFace when it shows none.
Result<Embedding> SearchProbe(FaceEngine& engine, const cv::Mat& bgr);

// Needs a unit-length `probe` of the primary model (the model of the vectors
// sightings keep). Returns each visit with a sighting captured at or after
// `since_ms` whose cosine to the probe is at least `threshold`, newest first
// (by the visit's start), at most `limit` (<= 0: all).
Result<std::vector<VisitHit>> FindVisitsOfFace(SightingStore& sightings, const Embedding& probe,
                                               float threshold, int64_t since_ms, int limit);

}  // namespace concierge
