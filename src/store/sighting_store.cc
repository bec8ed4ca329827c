#include "store/sighting_store.h"

namespace concierge {

const char* ToString(Decision decision) {
  switch (decision) {
    case Decision::kPending: return "pending";
    case Decision::kKnown: return "known";
    case Decision::kUnknown: return "unknown";
    case Decision::kRejected: return "rejected";
  }
  return "pending";
}

Result<Decision> ParseDecision(const std::string& text) {
  for (Decision d : {Decision::kPending, Decision::kKnown, Decision::kUnknown, Decision::kRejected})
    if (text == ToString(d)) return d;
  return Status::InvalidArgument("unknown decision '" + text + "'");
}

Status CheckRelabel(const SightingRecord& current, Decision decision,
                    const std::optional<std::string>& person_id) {
  if (current.decision != Decision::kKnown && current.decision != Decision::kUnknown)
    return Status::FailedPrecondition("sighting " + current.id + " is " +
                                      ToString(current.decision) + ", not known or unknown");
  if ((decision != Decision::kKnown && decision != Decision::kUnknown) ||
      (decision == Decision::kKnown) != person_id.has_value())
    return Status::InvalidArgument("relabelling sighting " + current.id +
                                   ": known needs a person, unknown none");
  return Status::Ok();
}

}  // namespace concierge
