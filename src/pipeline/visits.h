// Visits: repeated sightings of one person at one site, across all its
// cameras, with gaps shorter than a window, form one visit. Strangers have no
// person id, so an unknown face joins the visit of the most similar recent
// unknown face at the site, if similar enough: one stranger is one visit.
#pragma once

#include <cstdint>
#include <mutex>

#include "core/status.h"
#include "store/sighting_store.h"

namespace concierge {

// Cosine similarity of two embeddings; -1 when sizes differ or either is zero.
float CosineSimilarity(const Embedding& a, const Embedding& b);

// Thread-safe. Choosing a visit and recording the decision happen under one
// lock, so two workers never start two visits for one person in this process.
class VisitTracker {
 public:
  // Needs a store that outlives the tracker, window_ms > 0, and the cosine
  // similarity at which two unknown faces count as the same stranger.
  VisitTracker(SightingStore* store, int64_t window_ms, float stranger_threshold)
      : store_(store), window_ms_(window_ms), stranger_threshold_(stranger_threshold) {}

  // Needs a recorded sighting and its decided outcome. Records the decision
  // and joins the sighting to the right visit (starting one if none fits;
  // none for kRejected). Idempotent as SightingStore::RecordDecision is.
  Result<DecisionResult> Record(const SightingRecord& sighting, const SightingOutcome& outcome);

 private:
  Result<VisitChoice> Choose(const SightingRecord& sighting, const SightingOutcome& outcome);

  SightingStore* const store_;
  const int64_t window_ms_;
  const float stranger_threshold_;
  std::mutex mu_;
};

}  // namespace concierge
