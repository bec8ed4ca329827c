#include "http/camera_routes.h"

#include <sodium.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/stream_url.h"
#include "http/api_support.h"
#include "http/config_file.h"
#include "http/route_support.h"
#include "pipeline/edge.h"
#include "pipeline/frame_source.h"
#include "pipeline/camera_registry.h"
#include "pipeline/stream_probe.h"

namespace concierge {

namespace {

constexpr char kCameraPath[] = R"(/api/v1/cameras/([A-Za-z0-9_-]{1,64}))";
constexpr char kPreviewBoundary[] = "concierge-frame";
// Without a new frame, the latest is sent again this often: it keeps the
// picture up and finds out when the viewer has gone.
constexpr std::chrono::milliseconds kPreviewResend{2000};
// A test holds an HTTP thread this long at most (plus encoding the frame).
constexpr std::chrono::milliseconds kProbeTimeout{6000};
// Tests at once; each holds an HTTP thread and a stream connection.
constexpr int kMaxProbes = 2;
constexpr float kMaxDetectFps = 60;

bool IsNetworkSource(const std::string& source) { return CheckStreamUrl(source).ok(); }

// A camera entry's name; absent in the file, it is the default's.
std::string NameOf(const nlohmann::json& camera) {
  return camera.value("name", CameraConfig{}.name);
}

nlohmann::json CameraView(const nlohmann::json& camera) {
  const std::string source = camera.value("source", "");
  const bool network = IsNetworkSource(source);
  nlohmann::json view = {{"name", NameOf(camera)},
                         {"site", camera.value("site", CameraConfig{}.site)},
                         {"source_kind", ToString(ClassifySource(source))},
                         {"detect_fps", camera.value("detect_fps", CameraConfig{}.detect_fps)},
                         {"editable", network}};
  if (network) view["url"] = RedactUrlPassword(source);
  return view;
}

std::string DataUrl(const std::string& jpeg) {
  const int variant = sodium_base64_VARIANT_ORIGINAL;
  std::string out(sodium_base64_encoded_len(jpeg.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(jpeg.data()),
                    jpeg.size(), variant);
  out.resize(out.size() - 1);  // the terminating NUL
  return "data:image/jpeg;base64," + out;
}

// The fields of a camera body: only known keys, each of its type.
Status CheckBodyKeys(const nlohmann::json& body) {
  for (const auto& [key, value] : body.items()) {
    if (key == "detect_fps") {
      if (!value.is_number()) return Status::InvalidArgument("field 'detect_fps' must be a number");
      continue;
    }
    if (key != "name" && key != "site" && key != "url")
      return Status::InvalidArgument("unknown field '" + key + "'");
    if (!value.is_string()) return Status::InvalidArgument("field '" + key + "' must be a string");
  }
  return Status::Ok();
}

// The camera `name` in the edge.cameras of a checked config document, or nullptr.
nlohmann::json* FindIn(nlohmann::json& doc, const std::string& name) {
  const auto edge = doc.find("edge");
  if (edge == doc.end() || !edge->contains("cameras")) return nullptr;
  for (auto& camera : (*edge)["cameras"])
    if (NameOf(camera) == name) return &camera;
  return nullptr;
}

// The config file's document, checked as a config (so its cameras have their types).
Result<nlohmann::json> ReadCheckedConfigFile(const ApiContext& ctx) {
  if (ctx.config == nullptr) return Status::Unavailable("this server has no config file");
  const std::string path = ctx.config->ConfigFilePath();
  std::lock_guard lock(ConfigFileMutex());
  ASSIGN_OR_RETURN(nlohmann::json doc, ReadConfigFile(path));
  if (auto config = ConfigFromJson(doc); !config.ok())
    return Status::FailedPrecondition(path + " is invalid: " + config.status().message());
  return doc;
}

// The config file's cameras as the API shows them, by name: {name, site,
// source_kind, detect_fps, editable, url (network cameras only, redacted)}.
// An empty object when the file cannot be read (logged) or there is none.
nlohmann::json ConfiguredCameras(const ApiContext& ctx) {
  nlohmann::json by_name = nlohmann::json::object();
  if (ctx.config == nullptr) return by_name;  // nothing configured to add
  auto doc = ReadCheckedConfigFile(ctx);
  if (!doc.ok()) {
    spdlog::warn("http: cannot read the cameras of the config file: {}", doc.status().ToString());
    return by_name;
  }
  const auto edge = doc->find("edge");
  if (edge == doc->end() || !edge->contains("cameras")) return by_name;
  for (const auto& camera : (*edge)["cameras"])
    by_name[NameOf(camera)] = CameraView(camera);
  return by_name;
}

// How a camera runs here.
nlohmann::json CameraStatusJson(const CameraStatus& c) {
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
      std::string("multipart/x-mixed-replace; boundary=") + kPreviewBoundary,
      [viewer, latest = std::string()](size_t, httplib::DataSink& sink) mutable {
        std::optional<std::string> jpeg = viewer->Next(kPreviewResend);
        if (viewer->closed()) {
          sink.done();
          return true;
        }
        if (jpeg) latest = std::move(*jpeg);
        if (latest.empty()) return sink.is_writable();  // no frame yet
        const std::string head = std::string("--") + kPreviewBoundary +
                                 "\r\nContent-Type: image/jpeg\r\nContent-Length: " +
                                 std::to_string(latest.size()) + "\r\n\r\n";
        return sink.write(head.data(), head.size()) && sink.write(latest.data(), latest.size()) &&
               sink.write("\r\n", 2);
      });
}

class CameraRoutes {
 public:
  explicit CameraRoutes(const ApiContext& ctx) : ctx_(ctx) {}

  // What runs here, with how it is configured; then configured cameras that do not run here.
  void List(const httplib::Request&, httplib::Response& res, const Principal&) {
    nlohmann::json configured = ConfiguredCameras(ctx_);
    nlohmann::json items = nlohmann::json::array();
    if (ctx_.cameras) {
      for (const CameraStatus& c : ctx_.cameras->List()) {
        nlohmann::json item = CameraStatusJson(c);
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
  }

  void Get(const httplib::Request& req, httplib::Response& res, const Principal&) {
    if (CameraFeed* feed = Running(req, res)) SendJson(res, CameraStatusJson(feed->status()));
  }

  void Preview(const httplib::Request& req, httplib::Response& res, const Principal&) {
    if (CameraFeed* feed = Running(req, res)) StreamPreview(*feed, res);
  }

  void Create(const httplib::Request& req, httplib::Response& res, const Principal& who) {
    auto body = ReadJsonObject(req, res);
    if (!body) return;
    if (Status s = CheckBodyKeys(*body); !s.ok()) return SendError(res, s);
    nlohmann::json camera = {{"name", body->value("name", "")},
                             {"site", body->value("site", CameraConfig{}.site)},
                             {"source", body->value("url", "")},
                             {"detect_fps", body->value("detect_fps", double{CameraConfig{}.detect_fps})}};
    if (Status s = CheckCamera(camera); !s.ok()) return SendError(res, s);
    if (auto typed = RestoreUrlPassword(camera["source"].get<std::string>(), ""); !typed.ok())
      return SendError(res, typed.status());
    const std::string name = camera["name"].get<std::string>();
    std::lock_guard change(change_mu_);
    auto doc = ReadCheckedConfigFile(ctx_);
    if (!doc.ok()) return SendError(res, doc.status());
    if (FindIn(*doc, name) || (ctx_.cameras && ctx_.cameras->Find(name)))
      return SendError(res, Status::AlreadyExists("a camera named '" + name + "' exists already"));
    (*doc)["edge"]["cameras"].push_back(camera);
    Change(res, who, "camera.add", *doc, camera, 201);
  }

  void Update(const httplib::Request& req, httplib::Response& res, const Principal& who) {
    const std::string name = req.matches[1];
    auto body = ReadJsonObject(req, res);
    if (!body) return;
    if (Status s = CheckBodyKeys(*body); !s.ok()) return SendError(res, s);
    if (body->value("name", name) != name)
      return SendError(res, Status::InvalidArgument("a camera cannot be renamed; add a new one"));
    std::lock_guard change(change_mu_);
    auto doc = ReadCheckedConfigFile(ctx_);
    if (!doc.ok()) return SendError(res, doc.status());
    nlohmann::json* stored = FindEditable(*doc, name, res);
    if (!stored) return;
    nlohmann::json camera = *stored;
    if (body->contains("site")) camera["site"] = (*body)["site"];
    if (body->contains("detect_fps")) camera["detect_fps"] = (*body)["detect_fps"];
    if (body->contains("url")) {
      auto url = RestoreUrlPassword((*body)["url"].get<std::string>(), stored->value("source", ""));
      if (!url.ok()) return SendError(res, url.status());
      camera["source"] = *url;
    }
    if (Status s = CheckCamera(camera); !s.ok()) return SendError(res, s);
    *stored = camera;
    Change(res, who, "camera.update", *doc, camera, 200);
  }

  void Remove(const httplib::Request& req, httplib::Response& res, const Principal& who) {
    const std::string name = req.matches[1];
    std::lock_guard change(change_mu_);
    auto doc = ReadCheckedConfigFile(ctx_);
    if (!doc.ok()) return SendError(res, doc.status());
    nlohmann::json* stored = FindEditable(*doc, name, res);
    if (!stored) return;
    const nlohmann::json camera = *stored;
    nlohmann::json& all = (*doc)["edge"]["cameras"];
    for (auto it = all.begin(); it != all.end(); ++it) {
      if (NameOf(*it) == name) {
        all.erase(it);
        break;
      }
    }
    Change(res, who, "camera.remove", *doc, camera, 200, /*removed=*/true);
  }

  void Test(const httplib::Request& req, httplib::Response& res, const Principal&) {
    auto body = ReadJsonObject(req, res);
    if (!body) return;
    if (Status s = CheckBodyKeys(*body); !s.ok()) return SendError(res, s);
    std::string url = body->value("url", "");
    if (Status s = CheckStreamUrl(url); !s.ok()) return SendError(res, s);
    if (const std::string name = body->value("name", ""); !name.empty()) {
      // An edited camera's URL comes back redacted: test it with the stored password.
      auto doc = ReadCheckedConfigFile(ctx_);
      if (!doc.ok()) return SendError(res, doc.status());
      const nlohmann::json* stored = FindIn(*doc, name);
      auto restored = RestoreUrlPassword(url, stored ? stored->value("source", "") : "");
      if (!restored.ok()) return SendError(res, restored.status());
      url = *restored;
    }
    if (probes_.fetch_add(1) >= kMaxProbes) {
      probes_.fetch_sub(1);
      return SendErrorCode(res, 429, "another connection test is running; try again shortly");
    }
    auto snapshot = ProbeStream(url, kProbeTimeout);
    probes_.fetch_sub(1);
    spdlog::info("http: camera test url={} ok={}", RedactUrlPassword(url), snapshot.ok());
    if (!snapshot.ok())
      return SendJson(res, {{"ok", false},
                            {"width", nullptr},
                            {"height", nullptr},
                            {"preview", nullptr},
                            {"error", snapshot.status().message()}});
    SendJson(res, {{"ok", true},
                   {"width", snapshot->width},
                   {"height", snapshot->height},
                   {"preview", DataUrl(snapshot->jpeg)},
                   {"error", nullptr}});
  }

 private:
  // The camera the path names as it runs here, or answers 404 and returns nullptr.
  CameraFeed* Running(const httplib::Request& req, httplib::Response& res) const {
    const std::string name = req.matches[1];
    CameraFeed* feed = ctx_.cameras ? ctx_.cameras->Find(name) : nullptr;
    if (feed == nullptr) SendError(res, Status::NotFound("no camera '" + name + "'"));
    return feed;
  }

  static Status CheckCamera(const nlohmann::json& camera) {
    RETURN_IF_ERROR(ValidateCameraName("name", camera["name"].get<std::string>()));
    RETURN_IF_ERROR(ValidateCameraName("site", camera["site"].get<std::string>()));
    RETURN_IF_ERROR(CheckStreamUrl(camera["source"].get<std::string>()));
    const double fps = camera["detect_fps"].get<double>();
    if (!(fps > 0 && fps <= kMaxDetectFps))
      return Status::InvalidArgument("detect_fps must be more than 0 and at most 60");
    return Status::Ok();
  }

  // The camera `name` when the API may change it; else answers 404 or 409.
  nlohmann::json* FindEditable(nlohmann::json& doc, const std::string& name,
                               httplib::Response& res) const {
    nlohmann::json* camera = FindIn(doc, name);
    if (camera == nullptr && !(ctx_.cameras && ctx_.cameras->Find(name))) {
      SendError(res, Status::NotFound("no camera '" + name + "'"));
      return nullptr;
    }
    if (camera == nullptr || !IsNetworkSource(camera->value("source", ""))) {
      SendError(res, Status::FailedPrecondition(
                         "camera '" + name + "' reads a file, folder or device, or was given on "
                         "the command line; change it in the config file"));
      return nullptr;
    }
    return camera;
  }

  // Writes `doc` (checked as a whole config), records the change, applies it
  // to the running cameras and answers. Needs change_mu_ held.
  void Change(httplib::Response& res, const Principal& who, const std::string& action,
              const nlohmann::json& doc, const nlohmann::json& camera, int http_status,
              bool removed = false) {
    auto config = ConfigFromJson(doc);
    if (!config.ok()) return SendError(res, config.status());
    {
      std::lock_guard lock(ConfigFileMutex());
      if (Status s = WriteFileAtomically(ctx_.config->ConfigFilePath(), doc.dump(2) + "\n");
          !s.ok())
        return SendError(res, s);
    }
    const std::string name = camera["name"].get<std::string>();
    const nlohmann::json view = CameraView(camera);
    spdlog::info("http: {} name={} url={} by={}", action, name, view.value("url", ""), who.actor);
    AuditAction(ctx_, who, action, name, {{"site", view["site"]}, {"url", view["url"]}});
    std::optional<CameraConfig> running;
    if (!removed)
      for (const CameraConfig& c : config->edge.cameras)
        if (c.name == name) running = c;
    const Status applied = ctx_.apply_camera
                               ? ctx_.apply_camera(name, running)
                               : Status::Unavailable("saved; it applies at the next start");
    if (!applied.ok())
      spdlog::warn("http: {} name={} saved, not applied: {}", action, name, applied.message());
    nlohmann::json answer = {{"camera", view},
                             {"applied", applied.ok()},
                             {"message", applied.ok() ? "saved and applied" : applied.message()}};
    if (removed) answer["removed"] = true;
    SendJson(res, answer, http_status);
  }

  const ApiContext& ctx_;
  std::mutex change_mu_;  // one change at a time, from reading the file to applying it
  std::atomic<int> probes_{0};
};

}  // namespace

void RegisterCameraRoutes(httplib::Server& server, const ApiContext& ctx) {
  auto routes = std::make_shared<CameraRoutes>(ctx);
  server.Get("/api/v1/cameras", Route(routes, ctx, Role::kViewer, &CameraRoutes::List));
  server.Get(kCameraPath, Route(routes, ctx, Role::kViewer, &CameraRoutes::Get));
  server.Get(std::string(kCameraPath) + R"(/preview\.mjpg)",
             Route(routes, ctx, Role::kViewer, &CameraRoutes::Preview));
  server.Post("/api/v1/cameras", Route(routes, ctx, Role::kAdmin, &CameraRoutes::Create));
  server.Post("/api/v1/cameras/test", Route(routes, ctx, Role::kAdmin, &CameraRoutes::Test));
  server.Put(kCameraPath, Route(routes, ctx, Role::kAdmin, &CameraRoutes::Update));
  server.Delete(kCameraPath, Route(routes, ctx, Role::kAdmin, &CameraRoutes::Remove));
}

}  // namespace concierge
