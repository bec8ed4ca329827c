// POST /api/v1/restart on a real `concierge run`: a viewer is refused; an
// admin's request stops the process the way SIGTERM does and starts it again
// with the same arguments (the same process id, re-executed), back on the same
// port, answering the same token, keeping a settings change saved before it,
// with the restart in the audit log.
#include <chrono>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "support/api_server.h"
#include "support/child_process.h"
#include "support/test_env.h"

namespace concierge {
namespace {

using namespace std::chrono_literals;

constexpr char kServing[] = "http: serving url=";

class HttpRestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const testing::ApiAccounts accounts = testing::AddApiAccounts(dir_.path(), "restart-test");
    admin_token_ = accounts.admin_token;
    admin_id_ = accounts.admin_token_id;
    viewer_token_ = accounts.viewer_token;
  }

  void TearDown() override {
    if (!run_.running()) return;
    run_.Signal(SIGTERM);
    EXPECT_EQ(run_.Wait(120s), 0) << run_.Log();
  }

  void StartRun() {
    port_ = testing::StartRunWithHttp(run_, dir_.path());
    if (port_ == 0) return;
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_connection_timeout(2, 0);
    client_->set_read_timeout(30, 0);
  }

  static httplib::Headers Bearer(const std::string& token) {
    return {{"Authorization", "Bearer " + token}};
  }

  testing::TempDir dir_;
  testing::ChildProcess run_;
  int port_ = 0;
  std::string admin_token_;
  int64_t admin_id_ = 0;
  std::string viewer_token_;
  std::unique_ptr<httplib::Client> client_;
};

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST_F(HttpRestartTest, AnAdminRestartsTheServerBackOnTheSamePortAndItIsAudited) {
  StartRun();
  if (HasFailure()) return;
  const pid_t pid = run_.pid();

  auto refused = client_->Post("/api/v1/restart", Bearer(viewer_token_), "", "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403) << refused->body;
  auto anonymous = client_->Post("/api/v1/restart", "", "application/json");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);

  // A change that waits for the restart.
  auto saved = client_->Put("/api/v1/settings", Bearer(admin_token_),
                            R"({"retention": {"events_days": 45}})", "application/json");
  ASSERT_TRUE(saved);
  ASSERT_EQ(saved->status, 200) << saved->body;
  EXPECT_EQ(nlohmann::json::parse(saved->body)["restart_required"],
            nlohmann::json::array({"retention.events_days"}));

  const size_t log_before = run_.Log().size();
  auto restart = client_->Post("/api/v1/restart", Bearer(admin_token_), "", "application/json");
  ASSERT_TRUE(restart);
  ASSERT_EQ(restart->status, 202) << restart->body;
  EXPECT_EQ(nlohmann::json::parse(restart->body), nlohmann::json({{"restarting", true}}));

  // It stops the way SIGTERM stops it, then serves again from a fresh start.
  ASSERT_TRUE(run_.WaitForLog("serve: stopped", 120s, log_before)) << run_.Log();
  ASSERT_TRUE(run_.WaitForLog("starting again", 60s, log_before)) << run_.Log();
  ASSERT_TRUE(run_.WaitForLog(kServing, 180s, log_before)) << run_.Log();
  EXPECT_TRUE(run_.running());
  EXPECT_EQ(run_.pid(), pid);
  const std::string after = run_.Log().substr(log_before);
  EXPECT_EQ(Count(after, kServing), 1u) << after;
  EXPECT_NE(after.find("127.0.0.1:" + std::to_string(port_)), std::string::npos) << after;

  std::string me;
  ASSERT_TRUE(testing::Eventually(
      [&] {
        auto r = client_->Get("/api/v1/me", Bearer(admin_token_));
        if (r && r->status == 200) me = r->body;
        return !me.empty();
      },
      60s))
      << run_.Log();
  EXPECT_EQ(nlohmann::json::parse(me)["user"]["name"], "ada");

  auto health = client_->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto settings = client_->Get("/api/v1/settings", Bearer(admin_token_));
  ASSERT_TRUE(settings);
  ASSERT_EQ(settings->status, 200);
  EXPECT_EQ(nlohmann::json::parse(settings->body)["settings"]["retention"]["events_days"], 45);

  auto audit = client_->Get("/api/v1/audit", Bearer(admin_token_));
  ASSERT_TRUE(audit);
  ASSERT_EQ(audit->status, 200) << audit->body;
  const nlohmann::json entries = nlohmann::json::parse(audit->body);
  bool found = false;
  for (const auto& entry : entries["items"])
    found = found || (entry["action"] == "restart" && entry["target"] == "server" &&
                      entry["actor"] == "token:" + std::to_string(admin_id_));
  EXPECT_TRUE(found) << audit->body;

  // The restarted process stops cleanly on SIGTERM (TearDown checks exit 0).
}

}  // namespace
}  // namespace concierge
