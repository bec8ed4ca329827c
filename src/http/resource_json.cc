#include "http/resource_json.h"

#include "core/clock.h"
#include "store/face_collection.h"

namespace concierge {

using json = nlohmann::json;

json IsoOrNull(int64_t ms) { return ms > 0 ? json(FormatIsoUtc(ms)) : json(nullptr); }

namespace {

json CaptureClockJson(CaptureClock clock) {
  return clock == CaptureClock::kUnstated ? json(nullptr) : json(ToString(clock));
}

}  // namespace

json PersonRefJson(const ApiContext& ctx, const std::optional<std::string>& person_id) {
  if (!person_id) return nullptr;
  std::string name = *person_id;
  if (ctx.faces) {
    if (auto p = ctx.faces->GetPerson(*person_id); p.ok()) name = p->display_name;
  }
  return {{"id", *person_id}, {"name", name}};
}

json SightingResourceJson(const ApiContext& ctx, const SightingRecord& s) {
  return {{"id", s.id},
          {"camera", s.camera},
          {"site", s.site},
          {"time", IsoOrNull(s.captured_ms)},
          {"captured_ms", s.captured_ms},
          {"capture_clock", CaptureClockJson(s.capture_clock)},
          {"person", PersonRefJson(ctx, s.person_id)},
          {"similarity", s.similarity ? json(*s.similarity) : json(nullptr)},
          {"live_score", s.live_score < 0 ? json(nullptr) : json(s.live_score)},
          {"quality", s.quality.score},
          {"decision", ToString(s.decision)},
          {"visit", s.visit_id ? json(*s.visit_id) : json(nullptr)},
          {"image_key", s.image_key.empty() ? json(nullptr) : json(s.image_key)},
          {"image_url",
           s.image_key.empty() ? json(nullptr) : json("/api/v1/sightings/" + s.id + "/image")}};
}

Result<std::vector<SightingRecord>> VisitMembers(const ApiContext& ctx, const VisitRecord& v) {
  // The visit's sightings lie in [started_ms, last_ms]: that range keeps the
  // lookup on the captured_ms index.
  return ctx.sightings->List(
      {.since_ms = v.started_ms, .limit = 0, .until_ms = v.last_ms + 1, .visit_id = v.id});
}

Result<json> VisitResourceJson(const ApiContext& ctx, const VisitRecord& v,
                               const std::vector<SightingRecord>* known_members) {
  std::vector<SightingRecord> fetched;
  if (!known_members) {
    ASSIGN_OR_RETURN(fetched, VisitMembers(ctx, v));
  }
  const std::vector<SightingRecord>& members = known_members ? *known_members : fetched;
  const SightingRecord* best = nullptr;
  const SightingRecord* first = nullptr;  // whose time is the visit's start
  for (const auto& s : members) {
    if (!s.image_key.empty() && (!best || s.quality.score > best->quality.score)) best = &s;
    if (!first || s.captured_ms < first->captured_ms) first = &s;
  }
  return json{
      {"id", v.id},
      {"site", v.site},
      {"person", PersonRefJson(ctx, v.person_id)},
      {"started", IsoOrNull(v.started_ms)},
      {"last", IsoOrNull(v.last_ms)},
      {"started_ms", v.started_ms},
      {"last_ms", v.last_ms},
      {"capture_clock", first ? CaptureClockJson(first->capture_clock) : json(nullptr)},
      {"sightings", v.sightings},
      {"camera", best ? json(best->camera) : json(nullptr)},
      {"best_sighting_id", best ? json(best->id) : json(nullptr)},
      {"image_url", best ? json("/api/v1/sightings/" + best->id + "/image") : json(nullptr)}};
}

Result<json> VisitHitJson(const ApiContext& ctx, const VisitHit& hit) {
  ASSIGN_OR_RETURN(json visit, VisitResourceJson(ctx, hit.visit));
  visit["similarity"] = hit.similarity;
  visit["matched_sighting_id"] = hit.sighting_id;
  return visit;
}

}  // namespace concierge
