// Operations endpoints: GET /healthz (alive), GET /readyz (database, object
// store and bus usable), GET /metrics (Prometheus text; counts and timings
// only, never faces or names), and the cameras: GET /api/v1/cameras,
// /api/v1/cameras/{name} and /api/v1/cameras/{name}/preview.mjpg (a live
// multipart/x-mixed-replace JPEG stream with face boxes drawn). Health,
// readiness and metrics are public; cameras need a viewer.
#pragma once

#include <httplib.h>

#include "http/api_context.h"

namespace concierge {

// Needs a context whose parts outlive the server; ctx.auth is needed for the
// camera routes (they answer 503 without it). ctx.cameras may be null (no
// cameras in this process: the list is empty). Stop the server before the
// camera registry goes away, after CameraRegistry::Close() so open previews end.
void RegisterOpsRoutes(httplib::Server& server, const ApiContext& ctx);

}  // namespace concierge
