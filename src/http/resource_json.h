// The JSON shapes of the API's shared resources (docs/openapi.yaml): one
// shape per resource, whichever route answers it. Stateless; thread-safe
// when the stores in `ctx` are.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "http/api_context.h"
#include "pipeline/face_search.h"
#include "store/sighting_store.h"

namespace concierge {

// ISO-8601 UTC for ms > 0, else null.
nlohmann::json IsoOrNull(int64_t ms);
// {"id", "name"} of a person (the id as name when the collection lacks it), or null.
nlohmann::json PersonRefJson(const ApiContext& ctx, const std::optional<std::string>& person_id);
// A sighting as GET /api/v1/sightings/{id} answers it (and `concierge
// sightings --json` lists it).
nlohmann::json SightingResourceJson(const ApiContext& ctx, const SightingRecord& s);
// A visit's sightings, newest first.
Result<std::vector<SightingRecord>> VisitMembers(const ApiContext& ctx, const VisitRecord& v);
// A visit as GET /api/v1/visits (and `concierge visits --json`) answers it; `members` may carry
// VisitMembers(v) when the caller has it already.
Result<nlohmann::json> VisitResourceJson(const ApiContext& ctx, const VisitRecord& v,
                                         const std::vector<SightingRecord>* members = nullptr);
// A visit found by a photo (POST /api/v1/search, `concierge search`): the
// visit, its "similarity" and "matched_sighting_id".
Result<nlohmann::json> VisitHitJson(const ApiContext& ctx, const VisitHit& hit);

}  // namespace concierge
