// Presence and history routes (docs/openapi.yaml, tag "presence"):
//   GET /api/v1/presence?date=YYYY-MM-DD    who was in on a local day (default today)
//   GET /api/v1/digest?date=YYYY-MM-DD      the daily digest, as Slack gets it
//   GET /api/v1/visits.csv?from=&to=        visits of a local date range as CSV
//   GET /api/v1/people/{id}/export          a person's data as a ZIP (admins; audited)
// Viewers read all but the export.
#pragma once

#include <httplib.h>

#include "http/api_context.h"

namespace concierge {

// Needs ctx.config and ctx.auth set and everything in ctx to outlive `server`.
// A route whose part is null in `ctx` answers 503.
void RegisterPresenceRoutes(httplib::Server& server, const ApiContext& ctx);

}  // namespace concierge
