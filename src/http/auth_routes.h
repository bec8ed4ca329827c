// Login, logout, the current user, users, API tokens, settings, restart and
// the audit log under /api/v1 (see docs/openapi.yaml). Login, logout, user,
// token and settings changes and restarts are audited with actor
// "user:<name>" or "token:<id>".
#pragma once

#include <httplib.h>

#include "http/api_context.h"

namespace concierge {

// Needs ctx.config and ctx.auth that outlive the server; without ctx.audit
// the audit list answers 503 and changes are only logged.
void RegisterAuthRoutes(httplib::Server& server, const ApiContext& ctx);

}  // namespace concierge
