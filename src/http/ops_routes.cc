#include "http/ops_routes.h"

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/metrics.h"
#include "http/api_support.h"
#include "http/auth.h"
#include "http/camera_routes.h"
#include "pipeline/camera_registry.h"
#include "store/database.h"
#include "store/object_store.h"
#include "store/sighting_store.h"

namespace concierge {

namespace {

constexpr char kCameraPath[] = R"(/api/v1/cameras/([A-Za-z0-9_-]{1,64}))";
constexpr char kBoundary[] = "concierge-frame";
// Without a new frame, the latest is sent again this often: it keeps the
// picture up and finds out when the viewer has gone.
constexpr std::chrono::milliseconds kPreviewResend{2000};

nlohmann::json CameraJson(const CameraStatus& c) {
  return {{"name", c.name},
          {"site", c.site},
          {"source_kind", c.source_kind},
          {"state", ToString(c.state)},
          {"fps", c.fps},
          {"frames", c.frames},
          {"faces", c.faces},
          {"sightings", c.sightings},
          {"last_frame", c.last_frame_ms > 0 ? nlohmann::json(FormatIsoUtc(c.last_frame_ms))
                                             : nlohmann::json(nullptr)},
          {"last_frame_ms", c.last_frame_ms > 0 ? nlohmann::json(c.last_frame_ms)
                                                : nlohmann::json(nullptr)},
          {"error", c.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.error)}};
}

// A viewer may look at cameras; answers 401/403/503 itself otherwise.
bool MayView(const ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  if (ctx.auth == nullptr) {
    SendError(res, Status::Unavailable("authentication is not configured"));
    return false;
  }
  return ctx.auth->Require(req, res, Role::kViewer).has_value();
}

// The camera the path names, or answers 404 and returns nullptr.
CameraFeed* FindCamera(const ApiContext& ctx, const httplib::Request& req,
                       httplib::Response& res) {
  const std::string name = req.matches[1];
  CameraFeed* feed = ctx.cameras ? ctx.cameras->Find(name) : nullptr;
  if (feed == nullptr) SendError(res, Status::NotFound("no camera '" + name + "'"));
  return feed;
}

// Each built-in dependency and ctx.readiness, as name -> "ok" or a reason.
// Storage errors are logged, not shown: /readyz is public.
bool CheckReadiness(const ApiContext& ctx, nlohmann::json& checks) {
  bool ready = true;
  auto note = [&](const std::string& name, const Status& st, bool show_reason) {
    if (st.ok()) {
      checks[name] = "ok";
      return;
    }
    ready = false;
    spdlog::warn("readyz: {} is not usable: {}", name, st.ToString());
    checks[name] = show_reason ? st.message() : "unavailable";
  };
  if (ctx.db) {
    note("database", ctx.db->WithConnection([](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement probe, c.Prepare("SELECT 1"));
      return probe.Run();
    }), false);
  }
  if (ctx.sightings) {
    // A visit id that never exists: kNotFound proves the store answers.
    const auto visit = ctx.sightings->GetVisit(0);
    note("sightings",
         visit.ok() || visit.status().code() == Status::Code::kNotFound ? Status::Ok()
                                                                         : visit.status(),
         false);
  }
  if (ctx.objects) {
    const auto exists = ctx.objects->Exists("readyz/probe");
    note("objects", exists.ok() ? Status::Ok() : exists.status(), false);
  }
  for (const ReadinessCheck& extra : ctx.readiness) note(extra.name, extra.check(), true);
  return ready;
}

// Camera gauges, read at scrape time from the registry. (Gallery size and
// outbox depth are recorded by the server and the notifier.)
void RecordCameraGauges(const ApiContext& ctx) {
  if (ctx.cameras == nullptr) return;
  for (const CameraStatus& c : ctx.cameras->List()) {
    Metrics()
        .gauge("concierge_camera_up", "1 while the camera delivers frames", {{"camera", c.name}})
        .Set(c.state == CameraState::kRunning ? 1 : 0);
    Metrics()
        .gauge("concierge_camera_fps", "Frames per second the edge reads", {{"camera", c.name}})
        .Set(c.fps);
  }
}

// Streams the camera's preview frames until the viewer leaves or the feed closes.
void StreamPreview(CameraFeed& feed, httplib::Response& res) {
  auto watch = feed.WatchPreview();
  if (!watch.ok()) {
    SendError(res, watch.status());
    return;
  }
  std::shared_ptr<CameraFeed::Watch> viewer = std::move(watch).value();
  res.set_header("Cache-Control", "no-store");
  res.set_chunked_content_provider(
      std::string("multipart/x-mixed-replace; boundary=") + kBoundary,
      [viewer, latest = std::string()](size_t, httplib::DataSink& sink) mutable {
        std::optional<std::string> jpeg = viewer->Next(kPreviewResend);
        if (viewer->closed()) {
          sink.done();
          return true;
        }
        if (jpeg) latest = std::move(*jpeg);
        if (latest.empty()) return sink.is_writable();  // no frame yet
        const std::string head = std::string("--") + kBoundary +
                                 "\r\nContent-Type: image/jpeg\r\nContent-Length: " +
                                 std::to_string(latest.size()) + "\r\n\r\n";
        return sink.write(head.data(), head.size()) && sink.write(latest.data(), latest.size()) &&
               sink.write("\r\n", 2);
      });
}

}  // namespace

void RegisterOpsRoutes(httplib::Server& server, const ApiContext& ctx) {
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    SendJson(res, {{"status", "ok"}});
  });

  server.Get("/readyz", [ctx](const httplib::Request&, httplib::Response& res) {
    nlohmann::json checks = nlohmann::json::object();
    const bool ready = CheckReadiness(ctx, checks);
    SendJson(res, {{"status", ready ? "ready" : "not_ready"}, {"checks", checks}},
             ready ? 200 : 503);
  });

  server.Get("/metrics", [ctx](const httplib::Request& req, httplib::Response& res) {
    // Metrics name the cameras and show when people come: not public.
    if (ctx.auth == nullptr)
      return SendError(res, Status::Unavailable("authentication is not configured"));
    if (!ctx.auth->RequireMetricsReader(req, res)) return;
    RecordCameraGauges(ctx);
    res.set_header("Cache-Control", "no-store");
    res.set_content(Metrics().RenderPrometheus(), "text/plain; version=0.0.4; charset=utf-8");
  });

  server.Get("/api/v1/cameras", [ctx](const httplib::Request& req, httplib::Response& res) {
    if (!MayView(ctx, req, res)) return;
    // What runs here, with how it is configured; then configured cameras that do not run here.
    nlohmann::json configured = ConfiguredCameras(ctx);
    nlohmann::json items = nlohmann::json::array();
    if (ctx.cameras) {
      for (const CameraStatus& c : ctx.cameras->List()) {
        nlohmann::json item = CameraJson(c);
        item["editable"] = false;
        if (const auto it = configured.find(c.name); it != configured.end()) {
          item.update(*it);
          item["site"] = c.site;
          item["source_kind"] = c.source_kind;
          configured.erase(it);
        }
        items.push_back(std::move(item));
      }
    }
    for (auto& [name, camera] : configured.items()) {
      camera.update({{"state", "not running"}, {"fps", 0}, {"frames", 0}, {"faces", 0},
                     {"sightings", 0}, {"last_frame", nullptr}, {"last_frame_ms", nullptr},
                     {"error", nullptr}});
      items.push_back(camera);
    }
    SendJson(res, {{"items", items}, {"next_cursor", nullptr}});
  });

  server.Get(kCameraPath, [ctx](const httplib::Request& req, httplib::Response& res) {
    if (!MayView(ctx, req, res)) return;
    if (CameraFeed* feed = FindCamera(ctx, req, res)) SendJson(res, CameraJson(feed->status()));
  });

  server.Get(std::string(kCameraPath) + R"(/preview\.mjpg)",
             [ctx](const httplib::Request& req, httplib::Response& res) {
               if (!MayView(ctx, req, res)) return;
               if (CameraFeed* feed = FindCamera(ctx, req, res)) StreamPreview(*feed, res);
             });
}

}  // namespace concierge
