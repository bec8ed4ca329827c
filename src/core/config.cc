#include "core/config.h"

#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/json_limits.h"
#include "core/stream_url.h"

namespace concierge {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(VisionConfig, models_dir, detect_threshold,
                                                nms_threshold, tile_above_width,
                                                upscale_below_px, min_face_px,
                                                max_image_pixels, max_image_bytes, anti_spoof,
                                                flip_augment, inference_threads)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(QualityGate, min_face_px, min_sharpness,
                                                max_abs_yaw_deg, max_abs_pitch_deg,
                                                min_brightness, max_brightness)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(RecognitionConfig, collection,
                                                target_false_welcome_rate, search_mode,
                                                learn_faces, gallery_cap, ann_min_faces,
                                                ann_ef_search, ann_m, ann_ef_construction)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(MqttConfig, host, port, username, password,
                                                tls_ca_file, client_id, protocol, keepalive_s)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(BusConfig, kind, topic_prefix, share_group,
                                                queue_capacity, mqtt)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CameraConfig, name, site, source, detect_fps,
                                                motion_gate, realtime)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(EdgeConfig, cameras, spool_dir, spool_max_bytes,
                                                publish_quality, update_gain, track_timeout_s,
                                                crop_margin, jpeg_quality, views_per_sighting)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ServeConfig, max_payload_bytes, visit_window_s,
                                                workers, collection_refresh_ms,
                                                ingest_connections, stop_timeout_ms)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ObjectStoreConfig, kind, root, s3_endpoint,
                                                s3_bucket, s3_region, s3_access_key,
                                                s3_secret_key)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DatabaseConfig, kind, sqlite_path, postgres_url,
                                                busy_timeout_ms)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(NotifyConfig, slack_api_url, slack_bot_token,
                                                slack_signing_secret, slack_channel, webhook_url,
                                                webhook_secret, request_timeout_ms, call_attempts,
                                                backoff_initial_ms, backoff_max_ms,
                                                max_retry_after_s, outbox_max_attempts,
                                                outbox_lease_s,
                                                mqtt_events, cluster_threshold,
                                                cluster_window_hours, greet, greet_cooldown_min,
                                                greet_first_of_day_only, group_greeting_s,
                                                quiet_hours, ask_unknown,
                                                office_hours, alert_channel, alert_mention,
                                                spoof_live_threshold, digest_time,
                                                digest_channel, home_assistant,
                                                home_assistant_prefix)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(HttpConfig, enabled, bind, port, tls_cert_file,
                                                tls_key_file, web_dir, max_body_bytes, threads,
                                                header_timeout_s, request_timeout_s,
                                                max_connections_per_client)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(AuthConfig, session_ttl_hours, login_max_failures,
                                                login_window_s, metrics_token)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(AwsConfig, enabled, key_encryption_secret,
                                                office_collection_id, s3_bucket, max_clock_skew_s)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(RetentionConfig, unknown_crops_days,
                                                known_crops_days, events_days, interval_s,
                                                embeddings_only)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Config, data_dir, log_level, vision, quality,
                                                recognition, bus, edge, serve, objects, database,
                                                notify, http, auth, aws, retention)

namespace {

namespace fs = std::filesystem;

// What a value of the type of `v` is, for error messages.
std::string TypeName(const nlohmann::json& v) {
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "true or false";
  if (v.is_array()) return "a list";
  if (v.is_object()) return "an object";
  return "null";
}

// Whether `v` may stand where the default `shape` stands (an integer may be a number).
bool SameType(const nlohmann::json& v, const nlohmann::json& shape) {
  if (shape.is_number_float()) return v.is_number();
  if (shape.is_number_integer()) return v.is_number_integer();
  return v.type() == shape.type();
}

// Reports keys in `doc` that the schema (`shape`, the defaults as JSON) lacks,
// and values of another type than the schema's, naming the key.
Status CheckShape(const nlohmann::json& doc, const nlohmann::json& shape, const std::string& path) {
  if (!doc.is_object()) return Status::Ok();
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string here = path.empty() ? it.key() : path + "." + it.key();
    if (here == "recognition.match_threshold")
      return Status::InvalidArgument(
          "config key 'recognition.match_threshold' was replaced by "
          "'recognition.target_false_welcome_rate': the threshold is now calibrated to the "
          "gallery (see `concierge calibrate`)");
    if (!shape.contains(it.key())) return Status::InvalidArgument("unknown config key '" + here + "'");
    const nlohmann::json& expected = shape.at(it.key());
    if (!SameType(it.value(), expected)) {
      std::string shown = it.value().dump();
      if (shown.size() > 40) shown = shown.substr(0, 37) + "...";
      return Status::InvalidArgument("config key '" + here + "' must be " + TypeName(expected) +
                                     ", but is " + TypeName(it.value()) + " (" + shown + ")");
    }
    if (here == "edge.cameras") {
      const nlohmann::json camera_shape = CameraConfig{};
      for (const auto& camera : it.value()) {
        if (!camera.is_object())
          return Status::InvalidArgument("config key 'edge.cameras' must be a list of objects");
        RETURN_IF_ERROR(CheckShape(camera, camera_shape, "edge.cameras[]"));
      }
    }
    RETURN_IF_ERROR(CheckShape(it.value(), expected, here));
  }
  return Status::Ok();
}

std::string EnvName(const std::string& path) {
  std::string name = "CONCIERGE_";
  for (char c : path) name += (c == '.') ? '_' : static_cast<char>(std::toupper(c));
  return name;
}

// Applies CONCIERGE_<PATH> variables to every scalar leaf of `doc`.
Status ApplyEnvironment(nlohmann::json& doc, const std::string& path) {
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string here = path.empty() ? it.key() : path + "." + it.key();
    auto& v = it.value();
    if (v.is_object()) {
      RETURN_IF_ERROR(ApplyEnvironment(v, here));
      continue;
    }
    if (v.is_array()) continue;
    const char* env = std::getenv(EnvName(here).c_str());
    if (env == nullptr) continue;
    const std::string s = env;
    try {
      if (v.is_string()) v = s;
      else if (v.is_boolean()) v = (s == "1" || s == "true" || s == "yes");
      else if (v.is_number_integer()) v = std::stoll(s);
      else if (v.is_number()) v = std::stod(s);
    } catch (const std::exception&) {
      return Status::InvalidArgument("environment " + EnvName(here) + "='" + s +
                                     "' is not a valid value");
    }
  }
  return Status::Ok();
}

bool IsSecretKey(const std::string& key) {
  for (const char* word : {"password", "secret", "token", "postgres_url", "access_key"})
    if (key.find(word) != std::string::npos) return true;
  return false;
}

// SplitSettingsPatch below `path` ("" at the top).
void SplitPatchAt(const nlohmann::json& patch, const std::string& path, nlohmann::json& storable,
                  nlohmann::json& file_part) {
  for (const auto& [key, value] : patch.items()) {
    const std::string here = path.empty() ? key : path + "." + key;
    if (value.is_object() && !IsFileOnlySetting(here)) {
      nlohmann::json inner_storable = nlohmann::json::object();
      nlohmann::json inner_file = nlohmann::json::object();
      SplitPatchAt(value, here, inner_storable, inner_file);
      if (!inner_storable.empty()) storable[key] = std::move(inner_storable);
      if (!inner_file.empty()) file_part[key] = std::move(inner_file);
      continue;
    }
    const bool storable_key = !IsFileOnlySetting(here) && !IsSecretKey(key);
    // A null resets the key to its default: out of the database and the file.
    if (value.is_null() && storable_key) storable[key] = value;
    if (!storable_key || value.is_null()) file_part[key] = value;
    else storable[key] = value;
  }
}

void Redact(nlohmann::json& doc) {
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (it.value().is_structured()) Redact(it.value());
    else if (doc.is_object() && IsSecretKey(it.key()) && it.value().is_string() &&
             !it.value().get<std::string>().empty())
      it.value() = "***";
    else if (doc.is_object() && it.key() == "source" && it.value().is_string())
      it.value() = RedactUrlPassword(it.value().get<std::string>());  // a camera's credentials
  }
}

}  // namespace

std::string Config::DatabasePath() const {
  return database.sqlite_path.empty() ? (fs::path(data_dir) / "concierge.db").string()
                                      : database.sqlite_path;
}
std::string Config::ObjectRoot() const {
  return objects.root.empty() ? (fs::path(data_dir) / "objects").string() : objects.root;
}
std::string Config::SpoolDir() const {
  return edge.spool_dir.empty() ? (fs::path(data_dir) / "spool").string() : edge.spool_dir;
}
std::string Config::IndexDir() const { return (fs::path(data_dir) / "index").string(); }
std::string Config::ConfigFilePath() const {
  return config_file.empty() ? (fs::path(data_dir) / "config.json").string() : config_file;
}

std::string DefaultModelsDir() {
  if (const char* env = std::getenv("CONCIERGE_MODELS_DIR")) return env;
  std::string base;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) base = xdg;
  else if (const char* home = std::getenv("HOME"); home && *home) base = std::string(home) + "/.cache";
  else base = "/var/cache";
  return base + "/concierge/models/concierge-models-2";
}

bool IsFileOnlySetting(const std::string& dotted_key) {
  for (const std::string_view key : kFileOnlySettings) {
    if (dotted_key.rfind(key, 0) == 0 &&
        (dotted_key.size() == key.size() || dotted_key[key.size()] == '.'))
      return true;
  }
  return false;
}

void SplitSettingsPatch(const nlohmann::json& patch, nlohmann::json* storable,
                        nlohmann::json* file_part) {
  *storable = nlohmann::json::object();
  *file_part = nlohmann::json::object();
  if (patch.is_object()) SplitPatchAt(patch, "", *storable, *file_part);
}

Result<Config> ConfigWithStoredSettings(const Config& loaded, const nlohmann::json& stored) {
  nlohmann::json overlay, ignored;
  SplitSettingsPatch(stored, &overlay, &ignored);
  // Applied to the overlay alone: the environment wins for the keys it sets,
  // and nothing else of `loaded` (e.g. a command-line flag) is touched.
  RETURN_IF_ERROR(ApplyEnvironment(overlay, ""));
  nlohmann::json doc = loaded;
  doc.merge_patch(overlay);
  Result<Config> config = ConfigFromJson(doc);
  if (!config.ok())
    return Status::InvalidArgument("the settings saved in the database: " +
                                   config.status().message());
  config->config_file = loaded.config_file;
  return config;
}

Result<Config> ConfigFromJson(const nlohmann::json& doc) {
  if (!doc.is_object()) return Status::InvalidArgument("config must be a JSON object");
  const nlohmann::json shape = Config{};
  RETURN_IF_ERROR(CheckShape(doc, shape, ""));
  Config config;
  try {
    config = doc.get<Config>();
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("config has a wrong type: ") + e.what());
  }
  const RecognitionConfig& r = config.recognition;
  if (!(r.target_false_welcome_rate > 0 && r.target_false_welcome_rate < 1))
    return Status::InvalidArgument(
        "recognition.target_false_welcome_rate must be between 0 and 1 (e.g. 0.001 for 0.1%)");
  if (r.gallery_cap < 1) return Status::InvalidArgument("recognition.gallery_cap must be at least 1");
  if (r.ann_min_faces < 0)
    return Status::InvalidArgument("recognition.ann_min_faces must be 0 (never) or more");
  if (r.ann_ef_search < 1 || r.ann_ef_search > 10000)
    return Status::InvalidArgument("recognition.ann_ef_search must be 1 to 10000");
  if (r.ann_m < 4 || r.ann_m > 64)
    return Status::InvalidArgument("recognition.ann_m must be 4 to 64");
  if (r.ann_ef_construction < 10 || r.ann_ef_construction > 2000)
    return Status::InvalidArgument("recognition.ann_ef_construction must be 10 to 2000");
  if (config.edge.views_per_sighting < 1 || config.edge.views_per_sighting > 4)
    return Status::InvalidArgument("edge.views_per_sighting must be 1 to 4");
  if (config.notify.group_greeting_s < 0 || config.notify.group_greeting_s > 600)
    return Status::InvalidArgument(
        "notify.group_greeting_s must be 0 (greet one by one) to 600 seconds");
  // Each is an MQTT connection (and a thread): a typo must not open thousands.
  if (config.serve.ingest_connections < 1 || config.serve.ingest_connections > 256)
    return Status::InvalidArgument("serve.ingest_connections must be 1 to 256");
  if (config.serve.workers < 1 || config.serve.workers > 64)
    return Status::InvalidArgument("serve.workers must be 1 to 64");
  if (config.notify.outbox_lease_s < 1)
    return Status::InvalidArgument("notify.outbox_lease_s must be at least 1");
  return config;
}

Result<Config> LoadConfig(const std::string& data_dir, const std::string& config_file) {
  std::string dir = data_dir;
  if (dir.empty()) {
    const char* env = std::getenv("CONCIERGE_DATA_DIR");
    dir = (env && *env) ? env : "concierge-data";
  }
  nlohmann::json doc = nlohmann::json(Config{});
  const std::string file = config_file.empty() ? (fs::path(dir) / "config.json").string() : config_file;
  std::error_code ec;
  if (fs::exists(file, ec)) {
    auto from_file = ReadBoundedJsonFile(file);
    if (!from_file.ok()) {
      if (from_file.status().code() == Status::Code::kIoError) return from_file.status();
      return Status::InvalidArgument("config file " + from_file.status().message());
    }
    Result<Config> parsed = ConfigFromJson(*from_file);
    if (!parsed.ok())
      return Status::InvalidArgument("config file " + file + ": " + parsed.status().message());
    doc = nlohmann::json(*parsed);
  } else if (!config_file.empty()) {
    return Status::NotFound("config file " + file + " does not exist");
  }
  RETURN_IF_ERROR(ApplyEnvironment(doc, ""));
  ASSIGN_OR_RETURN(Config config, ConfigFromJson(doc));
  config.data_dir = dir;
  config.config_file = config_file;
  if (config.vision.models_dir.empty()) config.vision.models_dir = DefaultModelsDir();
  return config;
}

nlohmann::json RedactedConfig(const Config& config) {
  nlohmann::json doc = config;
  Redact(doc);
  return doc;
}

}  // namespace concierge
