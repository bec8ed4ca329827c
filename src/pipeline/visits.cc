#include "pipeline/visits.h"

#include <cmath>

namespace concierge {

namespace {
// Strangers compared per decision: bounds the cost at a busy door, where the
// latest sightings are the likeliest to be the same stranger anyway.
constexpr int kStrangerCandidates = 256;
}  // namespace

float CosineSimilarity(const Embedding& a, const Embedding& b) {
  if (a.size() != b.size() || a.empty()) return -1;
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += double(a[i]) * b[i];
    na += double(a[i]) * a[i];
    nb += double(b[i]) * b[i];
  }
  if (na <= 0 || nb <= 0) return -1;
  return static_cast<float>(dot / std::sqrt(na * nb));
}

Result<VisitChoice> VisitTracker::Choose(const SightingRecord& s, const SightingOutcome& o) {
  using Kind = VisitChoice::Kind;
  // Sightings may arrive out of order (spooled edges), so look both ways in time.
  const int64_t from = s.captured_ms - window_ms_, to = s.captured_ms + window_ms_;
  switch (o.decision) {
    case Decision::kPending:
    case Decision::kRejected: return VisitChoice{Kind::kNone, 0};
    case Decision::kKnown: {
      if (!o.person_id)
        return Status::InvalidArgument("sighting " + o.id + ": known without a person");
      ASSIGN_OR_RETURN(auto visits, store_->PersonVisits(s.site, *o.person_id, from, to));
      if (visits.empty()) return VisitChoice{Kind::kStart, 0};
      return VisitChoice{Kind::kJoin, visits.front().id};
    }
    case Decision::kUnknown: {
      ASSIGN_OR_RETURN(auto recent, store_->RecentUnknown(s.site, from, to, kStrangerCandidates));
      float best = stranger_threshold_;
      VisitChoice choice{Kind::kStart, 0};
      for (const auto& other : recent) {
        const float similarity = CosineSimilarity(o.embedding, other.embedding);
        if (similarity >= best) {
          best = similarity;
          choice = {Kind::kJoin, *other.visit_id};
        }
      }
      return choice;
    }
  }
  return VisitChoice{Kind::kNone, 0};
}

Result<DecisionResult> VisitTracker::Record(const SightingRecord& sighting,
                                            const SightingOutcome& outcome) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(const VisitChoice choice, Choose(sighting, outcome));
  return store_->RecordDecision(outcome, choice);
}

}  // namespace concierge
