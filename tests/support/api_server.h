// A real `concierge run` with its HTTP API, for end-to-end API tests, and the
// accounts that call it (or an in-process HttpServer).
#pragma once

#include <cstdint>
#include <string>

#include "http/auth.h"
#include "support/child_process.h"
#include "support/test_env.h"

namespace concierge::testing {

// The viewer's password, for tests that log in as "vic".
inline constexpr char kApiViewerPassword[] = "viewer-password-1";

// An admin "ada" and a viewer "vic" with one API token each.
struct ApiAccounts {
  std::string admin_token;
  int64_t admin_token_id = 0;
  std::string viewer_token;
};

// Adds both accounts, with tokens named `token_name`, to the SQLite database
// `concierge run` uses in `data_dir` (created when absent). Fails the test and
// returns empty tokens when that cannot be done.
ApiAccounts AddApiAccounts(const std::string& data_dir, const std::string& token_name);

// Adds both accounts, with tokens named `token_name`, through `auth`. Fails the
// test and returns empty tokens when that cannot be done.
ApiAccounts AddApiAccounts(Authenticator& auth, const std::string& token_name);

// Starts `concierge --data-dir <data_dir> run` serving HTTP on 127.0.0.1 at a
// free port (another when one was taken meanwhile; 3 tries), logging to
// <data_dir>/run.log, and waits up to 180 s for it to serve. Returns the
// port, or 0 after failing the test with the log.
int StartRunWithHttp(ChildProcess& run, const std::string& data_dir);

}  // namespace concierge::testing
