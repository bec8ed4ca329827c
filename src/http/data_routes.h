// The data part of the REST API (docs/openapi.yaml, tag "data"), one module
// per resource, each written as route_support.h describes:
//   timeline_routes     sightings and visits with their pictures, the live event stream (SSE)
//   unknown_routes      stranger clusters: list, tag, ignore
//   people_routes       people and their faces: create, rename, merge, preferences, enrol, forget
//   recognition_routes  recognition of an uploaded photo, search by photo
// Viewers read everything, images included; admins also change things.
// Nothing is served without authentication.
#pragma once

#include <httplib.h>

#include "http/api_context.h"

namespace concierge {

// Each needs ctx.config and ctx.auth to be set and everything in ctx to
// outlive `server`, and registers its resource's /api/v1 routes; a route
// whose part is null in `ctx` answers 503.
void RegisterTimelineRoutes(httplib::Server& server, const ApiContext& ctx);
void RegisterUnknownRoutes(httplib::Server& server, const ApiContext& ctx);
void RegisterPeopleRoutes(httplib::Server& server, const ApiContext& ctx);
void RegisterRecognitionRoutes(httplib::Server& server, const ApiContext& ctx);

}  // namespace concierge
