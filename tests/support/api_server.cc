#include "support/api_server.h"

#include <chrono>

#include <gtest/gtest.h>

#include "store/account_store.h"
#include "store/database.h"

namespace concierge::testing {

using namespace std::chrono_literals;

ApiAccounts AddApiAccounts(const std::string& data_dir, const std::string& token_name) {
  auto db = Database::OpenSqlite(data_dir + "/concierge.db", 5000);
  if (!db.ok()) {
    ADD_FAILURE() << db.status().ToString();
    return {};
  }
  auto accounts = NewSqliteAccountStore(db->get());
  Authenticator auth(accounts.get(), AuthConfig{});
  return AddApiAccounts(auth, token_name);
}

ApiAccounts AddApiAccounts(Authenticator& auth, const std::string& token_name) {
  const bool added = auth.AddUser("ada", "admin-password-1", Role::kAdmin).ok() &&
                     auth.AddUser("vic", kApiViewerPassword, Role::kViewer).ok();
  auto admin = auth.CreateToken(token_name, "ada");
  auto viewer = auth.CreateToken(token_name, "vic");
  if (!added || !admin.ok() || !viewer.ok()) {
    ADD_FAILURE() << "cannot add the test accounts";
    return {};
  }
  return {admin->token, admin->id, viewer->token};
}

int StartRunWithHttp(ChildProcess& run, const std::string& data_dir) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    const int port = FreePort();
    if (!run.Start({BinaryPath(), "--data-dir", data_dir, "run"},
                   {"CONCIERGE_HTTP_PORT=" + std::to_string(port), "CONCIERGE_HTTP_BIND=127.0.0.1"},
                   data_dir + "/run.log")) {
      ADD_FAILURE() << "cannot start " << BinaryPath();
      return 0;
    }
    if (run.WaitForLog("http: serving url=", 180s)) return port;
    if (run.Wait(0ms) == -1) break;  // still running, yet not serving
  }
  ADD_FAILURE() << "no HTTP server within 180 s:\n" << run.Log();
  return 0;
}

}  // namespace concierge::testing
