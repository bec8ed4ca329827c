// Store-level sighting records for store tests: embeddings with a known
// geometry, a pending sighting with every field set, the outcomes that
// decide it, and decided sightings recorded in one call.
#pragma once

#include <cstdint>
#include <string>

#include "store/object_store.h"
#include "store/sighting_store.h"

namespace concierge::testing {

// A unit vector along `axis` of 8 dims, tilted towards axis 7 by `tilt`.
Embedding UnitEmbedding(int axis, float tilt = 0);

// A pending sighting `id` captured at `captured_ms`, received 5 ms later, its
// picture under incoming/.
SightingRecord PendingSighting(const std::string& id, int64_t captured_ms,
                               const std::string& camera = "door",
                               const std::string& site = "office");

// `id` decided as `person` (similarity 0.7) / as a stranger with embedding `e`.
SightingOutcome KnownOutcome(const std::string& id, const std::string& person);
SightingOutcome UnknownOutcome(const std::string& id, Embedding e);

// A sighting as the recognise stage leaves it (RecordDecided).
struct DecidedSighting {
  std::string id;
  std::string person;  // "" for a stranger
  int64_t captured_ms = 0;
  std::string camera = "door";
  Embedding embedding;
  FaceQuality quality;
  float live_score = -1;
  int64_t visit = 0;    // 0 starts a visit, else the visit it joins
  std::string picture;  // stored at its decided key; empty: none stored
};

// Inserts `d` pending (site office, its own track, received when captured),
// stores its picture under known/<person>/ or unknown/, and records it as
// decided with similarity 0.8. The first error, if any.
Result<DecisionResult> RecordDecided(SightingStore& sightings, ObjectStore& objects,
                                     const DecidedSighting& d);

}  // namespace concierge::testing
