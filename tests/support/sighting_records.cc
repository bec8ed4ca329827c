#include "support/sighting_records.h"

#include <cmath>
#include <utility>

#include "pipeline/ingest.h"

namespace concierge::testing {

Embedding UnitEmbedding(int axis, float tilt) {
  Embedding e(8, 0.f);
  e[static_cast<size_t>(axis)] = 1;
  e[7] += tilt;
  const float norm = std::sqrt(1 + tilt * tilt);
  for (auto& v : e) v /= norm;
  return e;
}

SightingRecord PendingSighting(const std::string& id, int64_t captured_ms,
                               const std::string& camera, const std::string& site) {
  SightingRecord s;
  s.id = id;
  s.camera = camera;
  s.site = site;
  s.track = "t-" + id;
  s.seq = 1;
  s.captured_ms = captured_ms;
  s.received_ms = captured_ms + 5;
  s.box = {1, 2, 30, 40};
  s.detector_score = 0.9f;
  s.quality.size_px = 30;
  s.quality.score = 0.7f;
  s.live_score = 0.8f;
  s.image_key = SightingImageKey("incoming", id, captured_ms);
  return s;
}

SightingOutcome KnownOutcome(const std::string& id, const std::string& person) {
  return {id, Decision::kKnown, person, 0.7f, 0.9f, "known/" + person + "/x/" + id + ".jpg",
          UnitEmbedding(0)};
}

SightingOutcome UnknownOutcome(const std::string& id, Embedding e) {
  return {id, Decision::kUnknown, std::nullopt, 0.1f, 0.9f, "unknown/x/" + id + ".jpg",
          std::move(e)};
}

Result<DecisionResult> RecordDecided(SightingStore& sightings, ObjectStore& objects,
                                     const DecidedSighting& d) {
  SightingRecord s;
  s.id = d.id;
  s.camera = d.camera;
  s.site = "office";
  s.track = d.id;
  s.captured_ms = s.received_ms = d.captured_ms;
  s.quality = d.quality;
  s.image_key = SightingImageKey("incoming", d.id, d.captured_ms);
  RETURN_IF_ERROR(sightings.Insert(s).status());
  SightingOutcome o;
  o.id = d.id;
  o.decision = d.person.empty() ? Decision::kUnknown : Decision::kKnown;
  if (!d.person.empty()) o.person_id = d.person;
  o.similarity = 0.8f;
  o.live_score = d.live_score;
  o.image_key = SightingImageKey(d.person.empty() ? "unknown" : "known/" + d.person, d.id,
                                 d.captured_ms);
  o.embedding = d.embedding;
  if (!d.picture.empty()) RETURN_IF_ERROR(objects.Put(o.image_key, d.picture));
  return sightings.RecordDecision(o, d.visit ? VisitChoice{VisitChoice::Kind::kJoin, d.visit}
                                             : VisitChoice{VisitChoice::Kind::kStart});
}

}  // namespace concierge::testing
