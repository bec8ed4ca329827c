// Store-level sighting records for store tests: embeddings with a known
// geometry, a pending sighting with every field set, and the outcomes that
// decide it.
#pragma once

#include <cstdint>
#include <string>

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

}  // namespace concierge::testing
