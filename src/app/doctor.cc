#include "app/doctor.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>

#include <opencv2/videoio.hpp>  // the CAP_* values only

#include "bus/mqtt_bus.h"
#include "core/clock.h"
#include "notify/slack_client.h"
#include "pipeline/frame_source.h"
#include "store/database.h"
#include "store/object_store.h"
#include "store/pg_sighting_store.h"
#include "vision/media_plugin.h"
#include "vision/model_pack.h"

namespace concierge {

namespace {

namespace fs = std::filesystem;

// Network checks give up after this long, so a dead part costs seconds, not minutes.
constexpr int kNetworkTimeoutMs = 5000;
// Below this the data dir fills within hours on a busy door (crops, WAL, spool).
constexpr uintmax_t kMinFreeBytes = uintmax_t{1} << 30;

DoctorCheck Ok(std::string name, std::string detail) {
  return {std::move(name), true, std::move(detail), ""};
}
DoctorCheck Failed(std::string name, std::string detail, std::string fix) {
  return {std::move(name), false, std::move(detail), std::move(fix)};
}

// The media plugin (video) ships beside the binary: missing means a broken install.
constexpr const char* kReinstall = "reinstall concierge, or rebuild it (scripts/setup.sh)";

// The nearest existing folder at or above `path` (what the first start would create under).
fs::path ExistingAncestor(fs::path path) {
  std::error_code ec;
  path = fs::absolute(path, ec);
  while (!path.empty() && !fs::exists(path, ec) && path != path.parent_path())
    path = path.parent_path();
  return path;
}

DoctorCheck CheckModels(const Config& config) {
  const std::string& dir = config.vision.models_dir;
  auto pack = LoadModelPack(dir);
  if (!pack.ok())
    return Failed("models", pack.status().message(),
                  "run scripts/fetch-models.sh, or point vision.models_dir at a verified pack");
  return Ok("models", std::to_string(pack->models.size() + pack->embedders.size()) +
                          " model files of pack " + pack->name +
                          " match their pinned sha256 in " + dir);
}

DoctorCheck CheckSqlite(const Config& config) {
  std::error_code ec;
  const std::string path = fs::absolute(config.DatabasePath(), ec).string();
  if (!fs::exists(path, ec)) {
    const fs::path base = ExistingAncestor(fs::path(path).parent_path());
    if (access(base.c_str(), W_OK) != 0)
      return Failed("database",
                    "no database at " + path + ", and " + base.string() + " is not writable",
                    "create the data dir for the user that runs concierge, or pass --data-dir");
    return Ok("database", "no database at " + path + " yet; `run` or `serve` creates it");
  }
  auto db = Database::OpenSqlite(path, config.database.busy_timeout_ms,
                                 Database::Access::kReadOnly);
  if (!db.ok())
    return Failed("database", db.status().message(),
                  "start `concierge run` or `serve` once to apply migrations; check the file's "
                  "owner and permissions");
  auto version = (*db)->SchemaVersion();
  if (!version.ok()) return Failed("database", version.status().message(), "restore the file");
  return Ok("database", path + " opens, schema version " + std::to_string(*version) +
                            " is current");
}

DoctorCheck CheckDatabase(const Config& config) {
  if (config.database.kind == "sqlite") return CheckSqlite(config);
  if (config.database.kind != "postgres")
    return Failed("database", "database.kind '" + config.database.kind + "' is unknown",
                  "set database.kind to sqlite or postgres");
  // Opening applies pending migrations, as `serve` would at its start.
  auto store = OpenPgSightingStore(config.database.postgres_url);
  if (!store.ok())
    return Failed("database", store.status().message(),
                  "start PostgreSQL or fix database.postgres_url");
  return Ok("database", "PostgreSQL at database.postgres_url opens, schema current");
}

DoctorCheck CheckObjects(const Config& config) {
  std::error_code ec;
  const std::string where =
      config.objects.kind == "s3"
          ? "S3 bucket " + config.objects.s3_bucket + " at " + config.objects.s3_endpoint
          : "folder " + fs::absolute(config.ObjectRoot(), ec).string();
  const std::string fix = config.objects.kind == "s3"
                              ? "start the S3 server or fix objects.s3_endpoint, the bucket and "
                                "the keys"
                              : "make the folder writable by the user that runs concierge";
  auto store = OpenObjectStore(config.objects, config.ObjectRoot());
  if (!store.ok()) return Failed("objects", store.status().message(), fix);
  const std::string key = "doctor/probe-" + std::to_string(getpid()) + "-" +
                          std::to_string(NowMs());
  const std::string bytes = "concierge doctor probe";
  if (Status s = (*store)->Put(key, bytes); !s.ok())
    return Failed("objects", "writing a probe to " + where + ": " + s.message(), fix);
  auto back = (*store)->Get(key);
  const Status deleted = (*store)->Delete(key);
  if (!back.ok())
    return Failed("objects", "reading the probe back from " + where + ": " +
                                 back.status().message(), fix);
  if (*back != bytes)
    return Failed("objects", where + " returned other bytes than were written", fix);
  if (!deleted.ok())
    return Failed("objects", "deleting the probe " + key + " from " + where + ": " +
                                 deleted.message(), fix);
  return Ok("objects", "wrote, read and deleted a probe object in " + where);
}

DoctorCheck CheckBroker(const Config& config) {
  BusConfig bus = config.bus;
  // A clean session of its own: a configured client id would take over a server's session.
  bus.mqtt.client_id.clear();
  const std::string broker = bus.mqtt.host + ":" + std::to_string(bus.mqtt.port);
  const std::string fix =
      "start the broker, or fix bus.mqtt.host, port, username, password and tls_ca_file";
  auto opened = MqttBus::Open(bus, "doctor");
  if (!opened.ok()) return Failed("broker", opened.status().message(), fix);
  const Status connected =
      (*opened)->WaitSubscribed(std::chrono::milliseconds(kNetworkTimeoutMs));
  (*opened)->Stop();
  if (!connected.ok())
    return Failed("broker",
                  "cannot connect to the MQTT broker at " + broker + " within " +
                      std::to_string(kNetworkTimeoutMs / 1000) + " s",
                  fix);
  return Ok("broker", "connected to the MQTT broker at " + broker);
}

DoctorCheck CheckSlack(const Config& config) {
  SlackClientOptions options = SlackClientOptionsFromConfig(config.notify);
  options.call_attempts = 1;
  options.timeout_ms = std::min(options.timeout_ms, kNetworkTimeoutMs);
  SlackClient slack(options);
  auto who = slack.AuthTest();
  if (!who.ok())
    return Failed("slack", "auth.test at " + options.api_url + ": " + who.status().message(),
                  who.status().code() == Status::Code::kPermissionDenied
                      ? "set notify.slack_bot_token to the app's Bot User OAuth Token (xoxb-...)"
                      : "check the network path to " + options.api_url +
                            " (notify.slack_api_url)");
  return Ok("slack", "the bot token works: " + *who);
}

DoctorCheck CheckCamera(const CameraConfig& camera) {
  const std::string name = "camera " + camera.name;
  const std::string shown = RedactSource(camera.source);
  std::error_code ec;
  switch (ClassifySource(camera.source)) {
    case SourceKind::kDropFolder:
      return Ok(name, "drop folder " + shown + " exists");
    case SourceKind::kDevice: {
      const bool index = camera.source.find_first_not_of("0123456789") == std::string::npos;
      const std::string device = index ? "/dev/video" + camera.source : camera.source;
      if (access(device.c_str(), R_OK) != 0)
        return Failed(name, "cannot read device " + device + ": " + std::strerror(errno),
                      "plug the camera in, or add the user that runs concierge to group video");
      return Ok(name, "device " + device + " is readable");
    }
    case SourceKind::kVideoFile: {
      if (!fs::is_regular_file(camera.source, ec))
        return Failed(name, "no video file or folder at " + shown,
                      "fix the source of edge.cameras '" + camera.name + "'");
      Result<std::unique_ptr<VideoCapture>> video = NewVideoCapture();
      if (!video.ok()) return Failed(name, video.status().message(), kReinstall);
      if (!(*video)->Open(camera.source, cv::CAP_ANY, {}) || !(*video)->IsOpened())
        return Failed(name, "video file " + shown + " does not open as video",
                      "use a video OpenCV can read (mp4, mkv, avi)");
      return Ok(name, "video file " + shown + " opens");
    }
    case SourceKind::kStream: {
      Result<std::unique_ptr<VideoCapture>> stream = NewVideoCapture();
      if (!stream.ok()) return Failed(name, stream.status().message(), kReinstall);
      const bool opened = (*stream)->Open(camera.source, cv::CAP_ANY,
                                          {cv::CAP_PROP_OPEN_TIMEOUT_MSEC, kNetworkTimeoutMs,
                                           cv::CAP_PROP_READ_TIMEOUT_MSEC, kNetworkTimeoutMs});
      if (!opened)
        return Failed(name, "stream " + shown + " does not open within " +
                                std::to_string(kNetworkTimeoutMs / 1000) + " s",
                      "check the camera is on and the URL, user and password are right");
      return Ok(name, "stream " + shown + " opens");
    }
  }
  return Failed(name, "unknown source kind", "fix the source");
}

DoctorCheck CheckDisk(const Config& config) {
  const fs::path dir = ExistingAncestor(config.data_dir);
  std::error_code ec;
  const fs::space_info space = fs::space(dir, ec);
  if (ec) return Failed("disk", "cannot measure free space in " + dir.string() + ": " +
                                    ec.message(), "check the data dir");
  const std::string free = std::to_string(space.available >> 20) + " MiB free in " + dir.string();
  if (space.available < kMinFreeBytes)
    return Failed("disk", free + " (less than " + std::to_string(kMinFreeBytes >> 20) + " MiB)",
                  "free some space, or shorten retention.*_days");
  return Ok("disk", free);
}

DoctorCheck CheckHttpPort(const HttpConfig& http) {
  const std::string where = http.bind + ":" + std::to_string(http.port);
  if (http.port == 0) return Ok("http port", "http.port 0: a free port is picked at start");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(http.port));
  if (inet_pton(AF_INET, http.bind.c_str(), &addr.sin_addr) != 1)
    return Failed("http port", "http.bind '" + http.bind + "' is not an IPv4 address",
                  "set http.bind to 127.0.0.1 or 0.0.0.0");
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Failed("http port", std::string("socket: ") + std::strerror(errno), "");
  // As the server binds: SO_REUSEADDR only, so a listener holding the port is seen.
  const int yes = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  const int rc = bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  const int error = errno;
  close(fd);
  if (rc == 0) return Ok("http port", where + " is free");
  if (error == EADDRINUSE)
    return Failed("http port", "port " + std::to_string(http.port) + " on " + http.bind +
                                   " is already in use",
                  "stop what holds it (`ss -ltnp 'sport = :" + std::to_string(http.port) +
                      "'`) or set http.port");
  return Failed("http port", "cannot listen on " + where + ": " + std::strerror(error),
                "set http.bind to an address of this machine, or a port above 1023");
}

}  // namespace

std::vector<DoctorCheck> RunDoctor(const Config& config) {
  std::vector<DoctorCheck> checks;
  checks.push_back(CheckModels(config));
  checks.push_back(CheckDatabase(config));
  checks.push_back(CheckObjects(config));
  if (config.bus.kind == "mqtt") checks.push_back(CheckBroker(config));
  if (!config.notify.slack_bot_token.empty()) checks.push_back(CheckSlack(config));
  for (const auto& camera : config.edge.cameras) checks.push_back(CheckCamera(camera));
  checks.push_back(CheckDisk(config));
  if (config.http.enabled) checks.push_back(CheckHttpPort(config.http));
  return checks;
}

}  // namespace concierge
