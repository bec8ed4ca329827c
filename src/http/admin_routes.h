// What an admin runs the server with, under /api/v1 (see docs/openapi.yaml):
//   GET /settings, PUT /settings  the config file, secrets shown as "***" (sent
//                                 back so, a secret keeps its value); a change
//                                 is written atomically and applies at the next
//                                 start (the answer's restart_required)
//   GET /audit                    the audit log, newest first, paged
//   POST /restart                 stops as SIGTERM does and starts again (202)
// Every route needs an admin; changes and restarts are audited.
#pragma once

#include <httplib.h>

#include "http/api_context.h"

namespace concierge {

// Needs ctx.config (its config file) outliving the server; without ctx.auth
// every route answers 503, without ctx.audit the audit list does, and without
// ctx.request_restart the restart does.
void RegisterAdminRoutes(httplib::Server& server, const ApiContext& ctx);

}  // namespace concierge
