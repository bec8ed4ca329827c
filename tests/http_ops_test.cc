// The operations endpoints of a real `concierge run` on the Hamilton clip
// (replayed at its frame rate, Lin-Manuel Miranda enrolled, Alex Lacamoire a
// stranger) with the HTTP server on 127.0.0.1: the live MJPEG preview needs
// a login and shows JPEG frames; when the clip is done and every sighting is
// decided, /metrics holds sane counters and histograms per camera and stage,
// no names; /healthz and /readyz answer; the camera list shows the camera.
// Then the routes alone on a bare server: /readyz answers 503 naming what is
// not usable, and the camera routes refuse to serve without an authenticator.
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "http/auth.h"
#include "http/camera_routes.h"
#include "http/ops_routes.h"
#include "pipeline/camera_registry.h"
#include "store/database.h"
#include "support/child_process.h"
#include "support/test_env.h"

namespace concierge {
namespace {

using std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr char kVideo[] = "videos/short_hamilton_clip.mp4";
constexpr char kBoundary[] = "--concierge-frame";

// Prometheus text as series ("name{labels}") -> value.
std::map<std::string, double> ParseMetrics(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

double Value(const std::map<std::string, double>& m, const std::string& series) {
  const auto it = m.find(series);
  return it == m.end() ? -1 : it->second;
}

class HttpOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TEST_DATA();
    const auto enrolled = testing::RunCommand(
        {testing::BinaryPath(), "--data-dir", dir_.path(), "--log-level", "error", "enroll",
         "--largest", "--person", "lin-manuel",
         testing::DataPath("enroll/face_recognition/examples/lin-manuel-miranda.png")});
    ASSERT_EQ(enrolled.exit_code, 0) << enrolled.err;
    {
      auto db = Database::OpenSqlite(dir_.Sub("concierge.db"), 5000);
      ASSERT_TRUE(db.ok()) << db.status().ToString();
      auto accounts = NewSqliteAccountStore(db->get());
      Authenticator auth(accounts.get(), AuthConfig{});
      ASSERT_TRUE(auth.AddUser("watcher", "watcher-password", Role::kViewer).ok());
      auto token = auth.CreateToken("ops-test", "watcher");
      ASSERT_TRUE(token.ok()) << token.status().ToString();
      token_ = token->token;
    }
    const nlohmann::json config = {
        {"edge",
         {{"cameras",
           {{{"name", "door"}, {"site", "office"}, {"source", testing::DataPath(kVideo)},
             {"realtime", true}}}}}}};
    std::ofstream(dir_.Sub("config.json")) << config.dump();
    ASSERT_TRUE(run_.Start({testing::BinaryPath(), "--data-dir", dir_.path(), "run"},
                           {"CONCIERGE_HTTP_PORT=0", "CONCIERGE_HTTP_BIND=127.0.0.1"},
                           dir_.Sub("run.log")));
    ASSERT_TRUE(run_.WaitForLog("http: serving url=", 120s)) << run_.Log();
    std::smatch m;
    const std::string log = run_.Log();
    ASSERT_TRUE(std::regex_search(log, m, std::regex(R"(serving url=http://127\.0\.0\.1:(\d+))")))
        << log;
    client_ = std::make_unique<httplib::Client>("127.0.0.1", std::stoi(m[1]));
    client_->set_read_timeout(30, 0);
  }

  void TearDown() override {
    if (!run_.running()) return;
    run_.Signal(SIGTERM);
    EXPECT_EQ(run_.Wait(60s), 0) << run_.Log();
  }

  httplib::Headers Bearer() const { return {{"Authorization", "Bearer " + token_}}; }

  // GET with the token; the parsed JSON body, or null when not 200.
  nlohmann::json GetJson(const std::string& path) {
    auto res = client_->Get(path, Bearer());
    if (!res || res->status != 200) return nullptr;
    return nlohmann::json::parse(res->body, nullptr, false);
  }

  testing::TempDir dir_;
  testing::ChildProcess run_;
  std::string token_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpOpsTest, PreviewCamerasHealthAndMetricsAfterTheHamiltonClip) {
  // The camera appears once the edge stage loaded its models.
  const auto deadline = steady_clock::now() + 120s;
  while (GetJson("/api/v1/cameras/door").is_null() && steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);

  auto anonymous = client_->Get("/api/v1/cameras/door/preview.mjpg");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401) << "no preview without a login";
  EXPECT_EQ(client_->Get("/api/v1/cameras")->status, 401);
  EXPECT_EQ(client_->Get("/api/v1/cameras/nope", Bearer())->status, 404);

  // Read the stream until one whole JPEG part arrived, then hang up.
  std::string stream, content_type;
  auto preview = client_->Get(
      "/api/v1/cameras/door/preview.mjpg", Bearer(),
      [&](const httplib::Response& r) {
        content_type = r.get_header_value("Content-Type");
        return r.status == 200;
      },
      [&](const char* data, size_t n) {
        stream.append(data, n);
        const size_t second = stream.find(kBoundary, 1);
        return second == std::string::npos;  // false: stop reading
      });
  EXPECT_EQ(content_type, "multipart/x-mixed-replace; boundary=concierge-frame");
  ASSERT_EQ(stream.rfind(kBoundary, 0), 0u) << stream.substr(0, 200);
  const size_t jpeg = stream.find("\r\n\r\n");
  ASSERT_NE(jpeg, std::string::npos);
  EXPECT_EQ(static_cast<unsigned char>(stream[jpeg + 4]), 0xFF) << "a JPEG starts with FF D8";
  EXPECT_EQ(static_cast<unsigned char>(stream[jpeg + 5]), 0xD8);

  // Wait until the clip is done and every published sighting was decided.
  std::map<std::string, double> metrics;
  while (steady_clock::now() < deadline + 180s) {
    const nlohmann::json camera = GetJson("/api/v1/cameras/door");
    auto res = client_->Get("/metrics", Bearer());
    ASSERT_TRUE(res);
    metrics = ParseMetrics(res->body);
    const double published =
        Value(metrics, R"(concierge_edge_sightings_published_total{camera="door"})");
    double decided = 0;
    for (const char* decision : {"known", "unknown", "rejected"}) {
      const std::string series =
          std::string(R"(concierge_sightings_total{camera="door",decision=")") + decision + "\"}";
      decided += std::max(0.0, Value(metrics, series));
    }
    if (camera.is_object() && camera["state"] == "stopped" && published > 0 && decided >= published)
      break;
    std::this_thread::sleep_for(250ms);
  }

  EXPECT_GE(Value(metrics, R"(concierge_frames_total{camera="door"})"), 200);
  EXPECT_GT(Value(metrics, R"(concierge_faces_detected_total{camera="door"})"), 0);
  EXPECT_GT(Value(metrics, R"(concierge_edge_sightings_published_total{camera="door"})"), 0);
  EXPECT_GT(Value(metrics, R"(concierge_sightings_total{camera="door",decision="known"})"), 0)
      << "Lin-Manuel Miranda is enrolled";
  EXPECT_GT(Value(metrics, R"(concierge_sightings_total{camera="door",decision="unknown"})"), 0)
      << "Alex Lacamoire is not";
  for (const char* stage : {"decode", "detect", "track", "ingest"}) {
    const std::string labels = std::string("{stage=\"") + stage + "\"}";
    EXPECT_GT(Value(metrics, "concierge_stage_seconds_count" + labels), 0) << stage;
    EXPECT_GT(Value(metrics, "concierge_stage_seconds_sum" + labels), 0) << stage;
    EXPECT_EQ(Value(metrics, "concierge_stage_seconds_bucket{stage=\"" + std::string(stage) +
                                 "\",le=\"+Inf\"}"),
              Value(metrics, "concierge_stage_seconds_count" + labels))
        << stage;
  }
  EXPECT_GE(Value(metrics, "concierge_gallery_faces"), 1);
  EXPECT_EQ(Value(metrics, R"(concierge_camera_up{camera="door"})"), 0) << "the clip ended";

  auto text = client_->Get("/metrics", Bearer());
  ASSERT_TRUE(text);
  EXPECT_EQ(text->body.find("lin-manuel"), std::string::npos) << "no names in metrics";
  EXPECT_NE(text->get_header_value("Content-Type").find("text/plain"), std::string::npos);

  auto health = client_->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(nlohmann::json::parse(health->body)["status"], "ok");
  auto ready = client_->Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;

  const nlohmann::json cameras = GetJson("/api/v1/cameras");
  ASSERT_TRUE(cameras.is_object());
  ASSERT_EQ(cameras["items"].size(), 1u);
  const nlohmann::json& door = cameras["items"][0];
  EXPECT_EQ(door["name"], "door");
  EXPECT_EQ(door["site"], "office");
  EXPECT_EQ(door["source_kind"], "video file");
  EXPECT_EQ(door["state"], "stopped");
  EXPECT_GE(door["frames"].get<int64_t>(), 200);
  EXPECT_GT(door["faces"].get<int64_t>(), 0);
  EXPECT_GT(door["last_frame_ms"].get<int64_t>(), 0);
  EXPECT_TRUE(door["last_frame"].is_string());
}

TEST(OpsRoutesTest, ReadyzNamesWhatIsNotUsableAndCamerasNeedAuth) {
  CameraRegistry cameras;
  ASSERT_TRUE(cameras.Add("door", "office", "device").ok());
  ApiContext ctx;
  ctx.cameras = &cameras;
  std::atomic<bool> bus_up{false};
  ctx.readiness.push_back({"bus", [&bus_up] {
                             return bus_up ? Status::Ok()
                                           : Status::Unavailable("not connected to the broker");
                           }});
  httplib::Server server;
  RegisterOpsRoutes(server, ctx);
  RegisterCameraRoutes(server, ctx);
  const int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread serving([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(1ms);
  httplib::Client client("127.0.0.1", port);

  auto down = client.Get("/readyz");
  ASSERT_TRUE(down);
  EXPECT_EQ(down->status, 503);
  const nlohmann::json body = nlohmann::json::parse(down->body);
  EXPECT_EQ(body["status"], "not_ready");
  EXPECT_EQ(body["checks"]["bus"], "not connected to the broker");
  bus_up = true;
  auto up = client.Get("/readyz");
  ASSERT_TRUE(up);
  EXPECT_EQ(up->status, 200) << up->body;

  auto list = client.Get("/api/v1/cameras");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 503) << "no authenticator: nothing is shown";
  EXPECT_EQ(nlohmann::json::parse(list->body)["error"]["code"], "unavailable");
  EXPECT_EQ(client.Get("/api/v1/cameras/door/preview.mjpg")->status, 503);
  EXPECT_EQ(client.Delete("/api/v1/cameras/door")->status, 503);
  EXPECT_EQ(client.Get("/metrics")->status, 503);
  EXPECT_EQ(client.Get("/healthz")->status, 200);

  server.stop();
  serving.join();
}

}  // namespace
}  // namespace concierge
