// The data part of the REST API (docs/openapi.yaml, tag "data"): sightings and
// visits with their crops, the live event stream (SSE), unknown clusters,
// people with their faces, and recognition of an uploaded photo. Viewers read
// everything, images included; admins also change things. Nothing is served
// without authentication.
#pragma once

#include <httplib.h>

#include "http/api_context.h"

namespace concierge {

// Needs ctx.config and ctx.auth to be set and everything in ctx to outlive
// `server`. Registers every /api/v1 data route; a route whose part is null in
// `ctx` answers 503.
void RegisterDataRoutes(httplib::Server& server, const ApiContext& ctx);

}  // namespace concierge
