#include "pipeline/calibration_report.h"

#include <algorithm>

namespace concierge {

namespace {

nlohmann::json CalibrationJson(const Calibration& c) {
  return {{"target_false_welcome_rate", c.target_false_welcome},
          {"persons", c.persons},
          {"impostor_pairs", c.impostor_pairs},
          {"per_comparison_false_accepts", c.per_comparison_far},
          {"primary_threshold", c.primary_threshold},
          {"fused_threshold", c.fused_threshold},
          {"second_opinion_band", {c.primary_threshold - c.band_below,
                                   c.primary_threshold + c.band_above}}};
}

nlohmann::json OptionalText(const std::optional<std::string>& s) {
  return s ? nlohmann::json(*s) : nlohmann::json(nullptr);
}

}  // namespace

Result<CalibrationReport> MakeCalibrationReport(FaceEngine& engine, const FaceCollection& faces,
                                                Matcher& matcher, SightingStore* sightings,
                                                double proposed_rate, int days, int64_t now_ms) {
  CalibrationReport r;
  r.collection = faces.name();
  r.persons = faces.person_count();
  r.faces = faces.size();
  r.stale_faces = faces.stale_faces();
  r.in_force = matcher.calibration();
  r.look_alikes = faces.LookAlikes();
  std::sort(r.look_alikes.begin(), r.look_alikes.end(),
            [](const auto& a, const auto& b) { return a.similarity > b.similarity; });
  if (proposed_rate <= 0 || sightings == nullptr) return r;

  Matcher proposed(engine.pack(), &faces, proposed_rate, matcher.mode());
  r.proposed = proposed.calibration();
  r.replay_days = days;
  SightingQuery query;
  query.since_ms = now_ms - int64_t{days} * 86'400'000;
  query.limit = 0;
  ASSIGN_OR_RETURN(const std::vector<SightingRecord> recent, sightings->List(query));
  const std::string& primary = engine.embedders().front().id;
  for (const SightingRecord& s : recent) {
    if ((s.decision != Decision::kKnown && s.decision != Decision::kUnknown) ||
        s.embedding.empty())
      continue;
    ++r.replayed;
    FaceView view;
    view.face.human = true;
    view.face.embeddings = {{primary, s.embedding}};
    std::vector<FaceView> views{std::move(view)};
    ASSIGN_OR_RETURN(const MatchDecision d, proposed.Decide(engine, views));
    if (d.person_id != s.person_id) r.changed.push_back({s, d.person_id});
  }
  return r;
}

nlohmann::json CalibrationReportJson(const CalibrationReport& r) {
  nlohmann::json out = {{"collection", r.collection},
                        {"persons", r.persons},
                        {"faces", r.faces},
                        {"stale_faces", r.stale_faces},
                        {"in_force", CalibrationJson(r.in_force)},
                        {"look_alikes", nlohmann::json::array()}};
  for (const auto& l : r.look_alikes)
    out["look_alikes"].push_back(
        {{"person", l.person_id}, {"closest", l.other_id}, {"similarity", l.similarity}});
  if (!r.proposed) return out;
  nlohmann::json replay = {{"proposed", CalibrationJson(*r.proposed)},
                           {"days", r.replay_days},
                           {"sightings", r.replayed},
                           {"changed", nlohmann::json::array()}};
  std::vector<int64_t> visits;
  for (const auto& c : r.changed) {
    const SightingRecord& s = c.sighting;
    replay["changed"].push_back({{"sighting", s.id},
                                 {"visit", s.visit_id ? nlohmann::json(*s.visit_id) : nullptr},
                                 {"camera", s.camera},
                                 {"site", s.site},
                                 {"captured_ms", s.captured_ms},
                                 {"was", OptionalText(s.person_id)},
                                 {"would_be", OptionalText(c.would_be)}});
    if (s.visit_id) visits.push_back(*s.visit_id);
  }
  std::sort(visits.begin(), visits.end());
  replay["visits_changed"] = std::unique(visits.begin(), visits.end()) - visits.begin();
  out["replay"] = std::move(replay);
  return out;
}

}  // namespace concierge
