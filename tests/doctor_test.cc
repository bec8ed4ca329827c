// `concierge doctor` against real parts: a Mosquitto broker, the fake Slack,
// a free and a taken port, camera files; each broken part is one FAIL line
// naming it, and a non-zero exit.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "store/database.h"
#include "support/child_process.h"
#include "support/fake_slack.h"
#include "support/mosquitto_fixture.h"
#include "support/test_env.h"

namespace concierge {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using namespace std::chrono_literals;

const char* kVideo = "videos/short_hamilton_clip.mp4";

// A socket listening on a free 127.0.0.1 port until destroyed.
class Listener {
 public:
  Listener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 && listen(fd_, 8) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      port_ = ntohs(addr.sin_port);
  }
  ~Listener() { Close(); }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A port nothing listens on (it was free a moment ago).
int FreePort() {
  Listener l;
  return l.port();
}

class DoctorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TEST_DATA();
    REQUIRE_MOSQUITTO();
    ASSERT_OK(broker_.Start());
    fs::create_directories(dir_.Sub("inbox"));
    // The database as `run` leaves it: every migration applied.
    ASSERT_OK(Database::OpenSqlite(dir_.Sub("concierge.db"), 1000));
    http_port_ = FreePort();
    config_ = {
        {"bus", {{"kind", "mqtt"}, {"mqtt", {{"host", "127.0.0.1"}, {"port", broker_.port()}}}}},
        {"notify", {{"slack_api_url", slack_.api_url()}, {"slack_bot_token", slack_.token()}}},
        {"edge",
         {{"cameras",
           {{{"name", "door"}, {"source", dir_.Sub("inbox")}},
            {{"name", "lobby"}, {"source", testing::DataPath(kVideo)}}}}}},
        {"http", {{"bind", "127.0.0.1"}}}};
  }

  CommandResult Doctor(const nlohmann::json& config, std::vector<std::string> flags = {}) {
    std::ofstream(dir_.Sub("config.json")) << config.dump(2);
    std::vector<std::string> args = {testing::BinaryPath(), "--data-dir", dir_.path(),
                                     "--log-level", "off", "doctor"};
    args.insert(args.end(), flags.begin(), flags.end());
    return testing::RunCommand(args, {"CONCIERGE_HTTP_PORT=" + std::to_string(http_port_)});
  }

  // The output's lines that start with "FAIL".
  static std::vector<std::string> FailLines(const std::string& out) {
    std::vector<std::string> lines;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);)
      if (line.rfind("FAIL ", 0) == 0) lines.push_back(line);
    return lines;
  }

  testing::TempDir dir_;
  testing::MosquittoBroker broker_;
  testing::FakeSlack slack_;
  int http_port_ = 0;
  nlohmann::json config_;
};

TEST_F(DoctorTest, PassesOnAHealthySetupWithOneLinePerCheck) {
  const auto r = Doctor(config_);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(FailLines(r.out), std::vector<std::string>{}) << r.out;
  for (const std::string check : {"models", "database", "objects", "broker", "slack",
                                  "camera door", "camera lobby", "disk", "http port"})
    EXPECT_NE(r.out.find("ok   " + check + ": "), std::string::npos) << check << "\n" << r.out;
  EXPECT_EQ(slack_.Calls("auth.test").size(), 1u);
  for (const auto& e : fs::recursive_directory_iterator(dir_.Sub("objects")))
    EXPECT_FALSE(e.is_regular_file()) << "probe object left behind: " << e.path();

  const auto j = Doctor(config_, {"--json"});
  EXPECT_EQ(j.exit_code, 0) << j.err;
  const auto doc = nlohmann::json::parse(j.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << j.out;
  EXPECT_EQ(doc["ok"], true);
  EXPECT_EQ(doc["checks"].size(), 9u) << j.out;
  for (const auto& c : doc["checks"]) {
    EXPECT_EQ(c["ok"], true) << c;
    EXPECT_TRUE(c["fix"].is_null()) << c;
  }
}

TEST_F(DoctorTest, EachBrokenPartIsOneFailLineNamingItAndANonZeroExit) {
  // A model pack with one model file missing.
  const fs::path pack = dir_.Sub("pack");
  fs::create_directories(pack);
  const fs::path models = DefaultModelsDir();
  std::string missing;
  for (const auto& e : fs::directory_iterator(models)) {
    const std::string name = e.path().filename().string();
    if (missing.empty() && e.path().extension() == ".onnx") {
      missing = name;
      continue;
    }
    fs::create_symlink(e.path(), pack / name);
  }
  ASSERT_FALSE(missing.empty()) << "no .onnx model in " << models;

  Listener taken;
  struct Case {
    std::string part;
    nlohmann::json patch;
    std::vector<std::string> says;
  };
  const int dead_port = FreePort();
  const std::vector<Case> cases = {
      {"models", {{"vision", {{"models_dir", pack.string()}}}}, {missing}},
      {"broker",
       {{"bus", {{"mqtt", {{"port", dead_port}}}}}},
       {"127.0.0.1:" + std::to_string(dead_port)}},
      {"slack", {{"notify", {{"slack_bot_token", "xoxb-revoked"}}}}, {"invalid_auth"}},
      {"http port",
       {{"http", {{"port", taken.port()}}}},
       {"port " + std::to_string(taken.port()), "already in use"}},
      {"camera lobby",
       {{"edge",
         {{"cameras",
           {{{"name", "door"}, {"source", dir_.Sub("inbox")}},
            {{"name", "lobby"}, {"source", dir_.Sub("absent.mp4")}}}}}}},
       {dir_.Sub("absent.mp4")}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.part);
    nlohmann::json config = config_;
    config.merge_patch(c.patch);
    if (c.part == "http port") http_port_ = taken.port();
    const auto r = Doctor(config);
    http_port_ = FreePort();
    EXPECT_EQ(r.exit_code, 8) << r.out << r.err;
    const auto fails = FailLines(r.out);
    ASSERT_EQ(fails.size(), 1u) << r.out;
    EXPECT_EQ(fails[0].rfind("FAIL " + c.part + ": ", 0), 0u) << fails[0];
    for (const auto& s : c.says) EXPECT_NE(fails[0].find(s), std::string::npos) << fails[0];
    EXPECT_NE(fails[0].find("; fix: "), std::string::npos) << fails[0];
    EXPECT_EQ(r.out.find("xoxb-revoked"), std::string::npos) << "a token must never be shown";
  }
}

}  // namespace
}  // namespace concierge

namespace concierge {
namespace {

// Not `doctor` itself, but the same check where an operator looks first: the
// server's log says at start whether Slack works, and as whom.
TEST_F(DoctorTest, ServeSaysAtStartWhetherSlackWorksAndAsWhom) {
  auto serve_log = [&](const nlohmann::json& config, const std::string& name,
                       const std::string& needle) {
    std::ofstream(dir_.Sub("config.json")) << config.dump(2);
    testing::ChildProcess serve;
    EXPECT_TRUE(serve.Start({testing::BinaryPath(), "--data-dir", dir_.path(), "serve",
                             "--client-id", "concierge-serve-" + name},
                            {"CONCIERGE_HTTP_PORT=" + std::to_string(http_port_)},
                            dir_.Sub(name + ".log")));
    EXPECT_TRUE(serve.WaitForLog(needle, 120s)) << serve.Log();
    EXPECT_TRUE(serve.Stop(SIGTERM, 60s)) << serve.Log();
    return serve.Log();
  };
  const std::string good = serve_log(config_, "good", "slack: enabled as ");
  EXPECT_EQ(good.find("slack: auth.test failed"), std::string::npos) << good;

  nlohmann::json revoked = config_;
  revoked["notify"]["slack_bot_token"] = "xoxb-revoked";
  const std::string bad = serve_log(revoked, "bad", "slack: auth.test failed");
  EXPECT_EQ(bad.find("xoxb-revoked"), std::string::npos) << "the token reached the log";
}

}  // namespace
}  // namespace concierge
