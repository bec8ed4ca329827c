#include "store/sighting_store.h"

#include <nlohmann/json.hpp>

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

std::string ViewsJson(const SightingRecord& s) {
  nlohmann::json j = nlohmann::json::object();
  for (const Box& b : s.faces) j["faces"].push_back({b.x, b.y, b.w, b.h});
  if (s.human_score >= 0) j["human_score"] = s.human_score;
  return j.dump();
}

void ParseViewsJson(const std::string& text, SightingRecord* s) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return;
  if (j.contains("faces") && j["faces"].is_array())
    for (const auto& f : j["faces"])
      if (f.is_array() && f.size() == 4 && f[0].is_number() && f[1].is_number() &&
          f[2].is_number() && f[3].is_number())
        s->faces.push_back({f[0].get<float>(), f[1].get<float>(), f[2].get<float>(), f[3].get<float>()});
  if (j.contains("human_score") && j["human_score"].is_number())
    s->human_score = j["human_score"].get<float>();
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
