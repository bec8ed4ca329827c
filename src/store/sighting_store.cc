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

}  // namespace concierge
