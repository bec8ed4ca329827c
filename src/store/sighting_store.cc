#include "store/sighting_store.h"

#include <cmath>

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
  if (s.capture_clock != CaptureClock::kUnstated) j["capture_clock"] = ToString(s.capture_clock);
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
  if (j.contains("capture_clock") && j["capture_clock"].is_string())
    ParseCaptureClock(j["capture_clock"].get<std::string>(), &s->capture_clock);
}

std::string DescriptorJson(const Descriptor& descriptor) {
  nlohmann::json j = nlohmann::json::array();
  for (const ModelEmbedding& e : descriptor) {
    nlohmann::json vector = nlohmann::json::array();
    // Rounded so the shortest form is short; unit vectors lose nothing that matters.
    for (float v : e.vector) vector.push_back(std::round(static_cast<double>(v) * 1e7) / 1e7);
    j.push_back({{"model", e.model}, {"vector", std::move(vector)}});
  }
  return j.dump();
}

Result<Descriptor> ParseDescriptorJson(const std::string& text, const std::string& sighting_id) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  const Status malformed =
      Status::Internal("sighting " + sighting_id + " has a malformed descriptor");
  if (!j.is_array()) return malformed;
  Descriptor descriptor;
  for (const auto& e : j) {
    if (!e.is_object() || !e.contains("model") || !e["model"].is_string() ||
        !e.contains("vector") || !e["vector"].is_array())
      return malformed;
    ModelEmbedding m{e["model"].get<std::string>(), {}};
    for (const auto& v : e["vector"]) {
      if (!v.is_number()) return malformed;
      m.vector.push_back(v.get<float>());
    }
    descriptor.push_back(std::move(m));
  }
  return descriptor;
}

Status CheckNewSighting(const SightingRecord& s) {
  if (s.id.empty()) return Status::InvalidArgument("sighting without an id");
  if (s.decision != Decision::kPending)
    return Status::InvalidArgument("sighting " + s.id + " must be inserted as pending");
  return Status::Ok();
}

Status CheckOutcome(const SightingOutcome& o) {
  if (o.id.empty()) return Status::InvalidArgument("sighting outcome without an id");
  if (o.decision == Decision::kPending)
    return Status::InvalidArgument("sighting " + o.id + ": outcome must be a decision");
  if ((o.decision == Decision::kKnown) != (o.person_id.has_value() && !o.person_id->empty()))
    return Status::InvalidArgument("sighting " + o.id + ": a person goes with 'known' only");
  return Status::Ok();
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
