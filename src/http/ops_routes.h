// Operations endpoints, all public but /metrics: GET /healthz (alive), GET
// /readyz (sightings store, object store and ctx.readiness usable; 503 naming
// what is not), GET /metrics (Prometheus text for a metrics reader; counts and
// timings only, never faces or names). The cameras are camera_routes.h's.
#pragma once

#include <httplib.h>

#include "http/api_context.h"

namespace concierge {

// Needs a context whose parts outlive the server; /metrics answers 503
// without ctx.auth.
void RegisterOpsRoutes(httplib::Server& server, const ApiContext& ctx);

}  // namespace concierge
