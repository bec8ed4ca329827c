#include "http/ops_routes.h"

#include <string>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/metrics.h"
#include "http/api_support.h"
#include "http/auth.h"
#include "http/route_support.h"
#include "pipeline/camera_registry.h"
#include "store/object_store.h"
#include "store/sighting_store.h"

namespace concierge {

namespace {

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
  if (ctx.sightings) {
    // A visit id that never exists: kNotFound proves the database answers.
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
    if (ctx.auth == nullptr) return RefuseWithoutAuthenticator(res);
    if (!ctx.auth->RequireMetricsReader(req, res)) return;
    RecordCameraGauges(ctx);
    res.set_header("Cache-Control", "no-store");
    res.set_content(Metrics().RenderPrometheus(), "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace concierge
