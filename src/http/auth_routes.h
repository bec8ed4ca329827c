// Login, logout, the current user, users and API tokens under /api/v1 (see
// docs/openapi.yaml). Login is public; logout and the current user need a
// viewer, users and tokens an admin. Logins (failed ones too), logouts and
// user and token changes are audited with actor "user:<name>" or "token:<id>".
#pragma once

#include <httplib.h>

#include "http/api_context.h"

namespace concierge {

// Needs a context whose parts outlive the server; without ctx.auth every
// route answers 503, without ctx.audit nothing is audited.
void RegisterAuthRoutes(httplib::Server& server, const ApiContext& ctx);

}  // namespace concierge
