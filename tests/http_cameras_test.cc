// Cameras added through the API on a real `concierge run`: bad input is
// refused, a camera's password never leaves the config file, "test
// connection" reads a real RTSP stream (tests/rtsp/serve_clip.py) and names a
// closed port plainly within its bound, and a camera added while the server
// runs is read at once (its sightings arrive) and stops when removed.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "support/api_server.h"
#include "support/child_process.h"
#include "support/test_env.h"

namespace concierge {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr char kPassword[] = "s3cret-PW";

class HttpCamerasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const testing::ApiAccounts accounts = testing::AddApiAccounts(dir_.path(), "cameras-test");
    admin_ = accounts.admin_token;
    viewer_ = accounts.viewer_token;
  }

  void TearDown() override {
    if (run_.running()) {
      run_.Signal(SIGTERM);
      EXPECT_EQ(run_.Wait(120s), 0) << run_.Log();
    }
    if (rtsp_.running()) rtsp_.Kill();
  }

  // `concierge run` (watching its drop folder as camera "door") on a free port.
  void StartRun() {
    port_ = testing::StartRunWithHttp(run_, dir_.path());
    if (port_ == 0) return;
    // The camera reader starts after the HTTP server; changes before it wait for a restart.
    ASSERT_TRUE(run_.WaitForLog("run: cameras=", 180s)) << run_.Log();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_connection_timeout(2, 0);
    client_->set_read_timeout(60, 0);
  }

  // A face video served at rtsp://127.0.0.1:<port>/live; the port.
  int StartRtsp() {
    if (!rtsp_.Start({"/usr/bin/python3",
                      std::string(CONCIERGE_SOURCE_DIR) + "/tests/rtsp/serve_clip.py", "0",
                      testing::DataPath("videos/short_hamilton_clip.mp4")},
                     {}, dir_.Sub("rtsp.log")))
      return -1;
    const std::string ready = "rtsp: serving on ";
    if (!rtsp_.WaitForLog(ready, 60s)) return -1;
    const std::string log = rtsp_.Log();
    return std::atoi(log.c_str() + log.find(ready) + ready.size());
  }

  struct Reply {
    int status = 0;
    json body;
    std::string raw;
  };

  Reply Call(const std::string& method, const std::string& path, const std::string& token,
             const std::string& body = "") {
    const httplib::Headers headers = {{"Authorization", "Bearer " + token}};
    httplib::Result r = method == "GET"      ? client_->Get(path, headers)
                        : method == "DELETE" ? client_->Delete(path, headers)
                        : method == "PUT"    ? client_->Put(path, headers, body, "application/json")
                                             : client_->Post(path, headers, body, "application/json");
    Reply reply;
    if (!r) return reply;
    reply.status = r->status;
    reply.raw = r->body;
    reply.body = json::parse(r->body, nullptr, false);
    seen_ += r->body;
    return reply;
  }

  // The camera `name` of GET /api/v1/cameras, or null.
  json Listed(const std::string& name) {
    const Reply listed = Call("GET", "/api/v1/cameras", viewer_);
    EXPECT_EQ(listed.status, 200) << listed.raw;
    for (const json& item : listed.body["items"])
      if (item["name"] == name) return item;
    return nullptr;
  }

  testing::TempDir dir_;
  testing::ChildProcess run_;
  testing::ChildProcess rtsp_;
  int port_ = 0;
  std::string admin_;
  std::string viewer_;
  std::unique_ptr<httplib::Client> client_;
  std::string seen_;  // every response body, to check no secret leaked
};

TEST_F(HttpCamerasTest, BadInputIsRefusedAndThePasswordStaysInTheConfigFile) {
  REQUIRE_TEST_DATA();
  const int rtsp = StartRtsp();
  ASSERT_GT(rtsp, 0) << rtsp_.Log();
  StartRun();
  if (HasFailure()) return;
  const std::string url =
      "rtsp://ada:" + std::string(kPassword) + "@127.0.0.1:" + std::to_string(rtsp) + "/live";
  auto add = [&](const json& body, const std::string& token = "") {
    return Call("POST", "/api/v1/cameras", token.empty() ? admin_ : token, body.dump());
  };

  // Only network URLs; never files, folders, devices or odd text.
  for (const std::string& bad : std::vector<std::string>{
           "file:///etc/passwd", "/etc/passwd", "/dev/video0", "0", "ftp://host/x",
        "rtsp://host/live\nx", "rtsp:// host/live", "rtsp:///live", "videosrc ! appsink",
        "rtsp://host/" + std::string(2000, 'a')}) {
    const Reply r = add({{"name", "lobby"}, {"url", bad}});
    EXPECT_EQ(r.status, 400) << bad << ": " << r.raw;
  }
  for (const std::string& bad : std::vector<std::string>{"", "a b", "../up", "a.b", std::string(65, 'x')}) {
    EXPECT_EQ(add({{"name", bad}, {"url", url}}).status, 400) << bad;
  }
  EXPECT_EQ(add({{"name", "lobby"}, {"url", url}, {"site", "no/site"}}).status, 400);
  EXPECT_EQ(add({{"name", "lobby"}, {"url", url}, {"detect_fps", -1}}).status, 400);
  EXPECT_EQ(add({{"name", "lobby"}, {"url", url}, {"extra", 1}}).status, 400);
  EXPECT_EQ(add({{"name", "lobby"}, {"url", "rtsp://ada:***@127.0.0.1/live"}}).status, 400)
      << "a masked password is no password";
  EXPECT_EQ(Call("POST", "/api/v1/cameras", admin_, R"({"name": "lobby", "url": ")" +
                                                        std::string(2 << 20, 'a') + "\"}")
                .status,
            413);
  EXPECT_EQ(add({{"name", "lobby"}, {"url", url}}, viewer_).status, 403);
  EXPECT_EQ(Call("POST", "/api/v1/cameras/test", viewer_, json{{"url", url}}.dump()).status,
            403);
  EXPECT_EQ(Call("DELETE", "/api/v1/cameras/nope", admin_).status, 404);
  EXPECT_EQ(Call("PUT", "/api/v1/cameras/nope", admin_, "{}").status, 404);
  EXPECT_EQ(Call("DELETE", "/api/v1/cameras/door", admin_).status, 409)
      << "the drop folder camera is not the API's to change";
  EXPECT_EQ(add({{"name", "door"}, {"url", url}}).status, 409) << "taken by the running camera";

  // Test connection: a real stream gives a frame; a closed port a plain error, in time.
  const Reply ok = Call("POST", "/api/v1/cameras/test", admin_, json{{"url", url}}.dump());
  ASSERT_EQ(ok.status, 200) << ok.raw;
  EXPECT_EQ(ok.body["ok"], true) << ok.raw.substr(0, 300);
  EXPECT_GT(ok.body["width"].get<int>(), 0);
  EXPECT_GT(ok.body["height"].get<int>(), 0);
  EXPECT_TRUE(ok.body["preview"].get<std::string>().starts_with("data:image/jpeg;base64,/9j/"));
  const auto start = std::chrono::steady_clock::now();
  const Reply closed = Call(
      "POST", "/api/v1/cameras/test", admin_,
      json{{"url", "rtsp://127.0.0.1:" + std::to_string(testing::FreePort()) + "/live"}}.dump());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 15s) << "the test is bounded";
  ASSERT_EQ(closed.status, 200) << closed.raw;
  EXPECT_EQ(closed.body["ok"], false);
  EXPECT_NE(closed.body["error"].get<std::string>().find("nothing answers"), std::string::npos)
      << closed.raw;

  // Saved in the config file with its password; shown masked everywhere.
  const Reply added = add({{"name", "lobby"}, {"site", "hq"}, {"url", url}});
  ASSERT_EQ(added.status, 201) << added.raw;
  EXPECT_EQ(added.body["camera"]["url"],
            "rtsp://ada:***@127.0.0.1:" + std::to_string(rtsp) + "/live");
  EXPECT_EQ(add({{"name", "lobby"}, {"url", url}}).status, 409) << "duplicate";
  // An edit that sends the masked URL back keeps the password.
  const Reply edited = Call("PUT", "/api/v1/cameras/lobby", admin_,
                            json{{"url", added.body["camera"]["url"]}, {"detect_fps", 5}}.dump());
  ASSERT_EQ(edited.status, 200) << edited.raw;
  EXPECT_EQ(edited.body["camera"]["detect_fps"], 5);
  const json file = json::parse(testing::ReadFile(dir_.Sub("config.json")));
  ASSERT_EQ(file["edge"]["cameras"].size(), 1u) << file.dump();
  EXPECT_EQ(file["edge"]["cameras"][0]["source"], url);
  EXPECT_EQ(file["edge"]["cameras"][0]["detect_fps"], 5);
  EXPECT_EQ(Listed("lobby")["url"], added.body["camera"]["url"]);
  EXPECT_EQ(Listed("lobby")["editable"], true);
  EXPECT_EQ(Listed("door")["editable"], false);
  Call("GET", "/api/v1/settings", admin_);
  const Reply audit = Call("GET", "/api/v1/audit", admin_);
  ASSERT_EQ(audit.status, 200);
  bool audited = false;
  for (const json& entry : audit.body["items"])
    audited = audited || (entry["action"] == "camera.add" && entry["target"] == "lobby");
  EXPECT_TRUE(audited) << audit.raw;
  EXPECT_EQ(Call("DELETE", "/api/v1/cameras/lobby", admin_).status, 200);

  EXPECT_EQ(seen_.find(kPassword), std::string::npos) << "a response showed the password";
  EXPECT_EQ(run_.Log().find(kPassword), std::string::npos) << "the log showed the password";
  EXPECT_EQ(testing::ReadFile(dir_.Sub("concierge.db")).find(kPassword), std::string::npos);
}

TEST_F(HttpCamerasTest, ACameraAddedWhileRunningIsReadAtOnceAndStopsWhenRemoved) {
  REQUIRE_TEST_DATA();
  const int rtsp = StartRtsp();
  ASSERT_GT(rtsp, 0) << rtsp_.Log();
  StartRun();
  if (HasFailure()) return;
  const pid_t pid = run_.pid();
  const std::string url = "rtsp://127.0.0.1:" + std::to_string(rtsp) + "/live";

  const Reply added = Call("POST", "/api/v1/cameras", admin_,
                           json{{"name", "lobby"}, {"site", "hq"}, {"url", url}}.dump());
  ASSERT_EQ(added.status, 201) << added.raw;
  EXPECT_EQ(added.body["applied"], true) << added.raw;
  // Its faces become sightings of camera "lobby", without a restart.
  EXPECT_TRUE(testing::Eventually(
      [&] {
        const Reply r = Call("GET", "/api/v1/sightings?camera=lobby", viewer_);
        return r.status == 200 && !r.body["items"].empty();
      },
      180s))
      << run_.Log();
  // A live camera's times are its clock's; the drop folder's are its files'.
  const Reply lobby = Call("GET", "/api/v1/sightings?camera=lobby", viewer_);
  for (const json& s : lobby.body["items"]) EXPECT_EQ(s["capture_clock"], "camera") << s.dump();
  EXPECT_EQ(Listed("lobby")["site"], "hq");
  EXPECT_EQ(run_.pid(), pid);

  const size_t mark = run_.Log().size();
  const Reply removed = Call("DELETE", "/api/v1/cameras/lobby", admin_);
  ASSERT_EQ(removed.status, 200) << removed.raw;
  EXPECT_EQ(removed.body["applied"], true) << removed.raw;
  EXPECT_TRUE(run_.WaitForLog("lobby: removed", 60s, mark)) << run_.Log();
  EXPECT_TRUE(Listed("lobby").is_null());
  EXPECT_FALSE(Listed("door").is_null()) << "the other camera runs on";
  EXPECT_TRUE(json::parse(testing::ReadFile(dir_.Sub("config.json")))["edge"]["cameras"].empty());
}

}  // namespace
}  // namespace concierge
