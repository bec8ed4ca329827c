// The one typed configuration for every command. Loaded in layers:
//   built-in defaults < config file < CONCIERGE_* environment < command flags.
// File keys mirror the struct (JSON). Every scalar leaf can also be set from
// the environment as CONCIERGE_<PATH> with dots as underscores, e.g.
// recognition.target_false_welcome_rate -> CONCIERGE_RECOGNITION_TARGET_FALSE_WELCOME_RATE.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/status.h"

namespace concierge {

struct VisionConfig {
  std::string models_dir;          // folder with manifest.json; default: the setup cache
  float detect_threshold = 0.8f;   // detector score needed to report a face
  float nms_threshold = 0.4f;
  // Frames wider than this are also scanned in overlapping tiles so that
  // small faces in 1080p frames survive the 320x240 detector input. 720p
  // stays untiled: tiles there would cost 7x the detector time.
  int tile_above_width = 1280;
  // Photos whose longer side is below this are scanned at twice their size
  // (in tiles) for small faces. Video cameras never are: their faces that
  // small fail the quality gate anyway, and it would cost ~5x per frame.
  int upscale_below_px = 800;
  int min_face_px = 20;            // smaller detections are dropped
  int64_t max_image_pixels = 50'000'000;  // decompression-bomb guard (from header)
  int64_t max_image_bytes = 30 * 1024 * 1024;
  bool anti_spoof = true;
  bool flip_augment = false;       // embed face + mirror too; measured worse on LFW (BENCHMARKS.md)
  int inference_threads = 1;       // per model; the server runs several workers instead
};

// The quality gate used for enrolment, tagging and "ask about stranger".
struct QualityGate {
  float min_face_px = 40;
  float min_sharpness = 15;
  float max_abs_yaw_deg = 45;
  float max_abs_pitch_deg = 35;
  float min_brightness = 40;
  float max_brightness = 225;
};

struct RecognitionConfig {
  std::string collection = "default";
  // The share of strangers that may be named as someone. The match threshold
  // follows from it and the gallery (`concierge calibrate` shows it).
  double target_false_welcome_rate = 0.001;
  std::string search_mode = "centroid";  // or "best" (best face per person); see BENCHMARKS.md
  // The gallery learns: confidently recognised faces that pass the quality
  // gate join their person's gallery, at most gallery_cap faces per person
  // (the most diverse are kept; enrolled faces always stay).
  bool learn_faces = true;
  int gallery_cap = 20;
  // From this many searchable faces on, search finds candidates in an HNSW
  // index instead of scanning every face (0: always scan). Exploring more
  // candidates (ann_ef_search) costs time and misses fewer faces. The graph's
  // links per face (ann_m) and build effort (ann_ef_construction) take effect
  // when the index is built; for a million faces 32, 200 and an ann_ef_search
  // of 256 (BENCHMARKS.md).
  int ann_min_faces = 50000;
  int ann_ef_search = 128;
  int ann_m = 16;
  int ann_ef_construction = 100;
};

struct MqttConfig {
  std::string host = "127.0.0.1";
  int port = 1883;
  std::string username;
  std::string password;             // secret
  std::string tls_ca_file;          // enables TLS when set
  std::string client_id;            // default: concierge-<role>-<pid>
  int protocol = 5;                 // 3 (3.1.1) or 5
  int keepalive_s = 30;
};

struct BusConfig {
  std::string kind = "inprocess";   // "inprocess" or "mqtt"
  std::string topic_prefix = "concierge";
  std::string share_group = "concierge";
  int queue_capacity = 256;         // in-process backpressure bound
  MqttConfig mqtt;
};

struct CameraConfig {
  std::string name = "door";
  std::string site = "office";
  std::string source;               // device index, /dev/videoN, URL, file or folder
  float detect_fps = 10;            // detection rate; other frames only track
  bool motion_gate = true;          // skip detection on frames with no motion
  bool realtime = false;            // pace video files at their frame rate
};

struct EdgeConfig {
  std::vector<CameraConfig> cameras;
  std::string spool_dir;            // default: <data_dir>/spool
  int64_t spool_max_bytes = 512LL * 1024 * 1024;
  float publish_quality = 0.75f;    // publish early once a track's best crop passes this
  float update_gain = 0.15f;        // re-publish only when quality improves by this much
  float track_timeout_s = 1.5f;     // a track ends after this long unseen
  float crop_margin = 0.4f;         // extra context around the face box, per side
  int jpeg_quality = 90;
  // A sighting carries a video track's best few views (frontal, sharp, large),
  // side by side in its picture; the server looks at more than the best one
  // only when the best alone does not decide.
  int views_per_sighting = 3;
};

struct ServeConfig {
  int64_t max_payload_bytes = 4 * 1024 * 1024;
  int visit_window_s = 300;         // sightings of one person closer than this form one visit
  int workers = 2;
  // How often a server checks the face collection for changes made by other
  // processes (enroll, tag, forget) and reloads it; 0: never.
  int collection_refresh_ms = 1000;
  // `serve`: MQTT connections receiving sightings, each with one message in
  // flight (acknowledged after it is stored), so this many are ingested at once.
  // Ingest waits on the disk, not the CPU: more in flight share its flushes. 1..256.
  int ingest_connections = 32;
  // SIGTERM (or Ctrl-C) waits at most this long for the recognition backlog;
  // what is left stays pending for the next start.
  int stop_timeout_ms = 20000;
};

struct ObjectStoreConfig {
  std::string kind = "fs";          // "fs" or "s3"
  std::string root;                 // fs: default <data_dir>/objects
  std::string s3_endpoint;          // e.g. http://127.0.0.1:9000
  std::string s3_bucket = "concierge";
  std::string s3_region = "us-east-1";
  std::string s3_access_key;        // secret
  std::string s3_secret_key;        // secret
};

struct DatabaseConfig {
  std::string kind = "sqlite";      // "sqlite" or "postgres"
  std::string sqlite_path;          // default: <data_dir>/concierge.db
  std::string postgres_url;         // secret (may hold a password)
  int busy_timeout_ms = 5000;
};

// Slack and webhook notifications. Tokens and secrets come from the config
// file or CONCIERGE_NOTIFY_* only and are redacted everywhere else.
struct NotifyConfig {
  std::string slack_api_url = "https://slack.com/api";  // tests point this at a fake
  std::string slack_bot_token;        // secret: xoxb-...
  std::string slack_signing_secret;   // secret: verifies /slack/interactive requests
  std::string slack_channel;          // channel id for greetings and "who is this?"
  std::string webhook_url;            // empty: no webhook
  std::string webhook_secret;         // secret: HMAC key for X-Concierge-Signature
  int request_timeout_ms = 10000;     // one HTTP call
  int call_attempts = 4;              // per API call, the client's own retries included
  int backoff_initial_ms = 500;       // doubles per retry, up to backoff_max_ms
  int backoff_max_ms = 60000;
  int max_retry_after_s = 120;        // a longer Slack Retry-After is capped to this
  int outbox_max_attempts = 30;       // deliveries per notification before it is marked failed
  int outbox_lease_s = 60;            // a dead server's claimed notification waits this long
  bool mqtt_events = false;           // publish concierge/<site>/events/... on the bus
  // Stranger clusters: a sighting joins a cluster whose centroid is at least
  // this similar (cosine) and was seen within the window.
  float cluster_threshold = 0.5f;
  int cluster_window_hours = 168;
  // Greetings for known people (Slack). Times of day are the server's local time (TZ).
  bool greet = true;
  int greet_cooldown_min = 240;       // per person; 0: one greeting per visit only
  bool greet_first_of_day_only = false;
  // People arriving within this many seconds of a greeted arrival at the same
  // site are named in that greeting (the message is edited), not greeted one by
  // one; 0: one message per person.
  int group_greeting_s = 10;
  std::string quiet_hours;            // "HH:MM-HH:MM" without greetings; may wrap midnight
  bool ask_unknown = true;            // "who is this?" for strangers passing the quality gate
  std::string office_hours = "07:00-19:00";  // a stranger outside them raises an alert
  std::string alert_channel;          // channel id for after-hours alerts; empty: no alert
  std::string alert_mention = "<!here>";
  // A live score below this is "possible photo/screen". Measured by `eval live`:
  // 0.1 flags 3.6% of live faces in video (BENCHMARKS.md).
  float spoof_live_threshold = 0.1f;
  // The daily digest (arrivals, strangers still untagged, after-hours events)
  // posted to Slack at this local time "HH:MM"; empty: no digest.
  std::string digest_time;
  std::string digest_channel;         // channel id; empty: slack_channel
  // Home Assistant MQTT discovery on the bus.mqtt broker: a presence entity
  // per person and a "last stranger" sensor per camera.
  bool home_assistant = false;
  std::string home_assistant_prefix = "homeassistant";  // HA's discovery prefix
};

// The HTTP server in `run` and `serve`: REST API, web UI, Slack endpoint.
struct HttpConfig {
  bool enabled = true;
  std::string bind = "127.0.0.1";   // 0.0.0.0 to serve the office network
  int port = 8080;
  std::string tls_cert_file;        // TLS when both files are set
  std::string tls_key_file;
  std::string web_dir;              // built UI; default: web/dist of the source tree
  int64_t max_body_bytes = 20 * 1024 * 1024;  // uploads (enrol, recognize) above this get 413
  // Worker threads: each open connection holds one. Slow clients cannot hold
  // them all: a request's head must arrive within header_timeout_s and all
  // of it within request_timeout_s, and one client address may hold at most
  // max_connections_per_client (more get 503).
  int threads = 64;
  int header_timeout_s = 10;
  int request_timeout_s = 60;
  int max_connections_per_client = 16;
};

// Logins, sessions and API tokens for the HTTP server.
struct AuthConfig {
  int session_ttl_hours = 12;
  int login_max_failures = 5;       // per user name and per client address ...
  int login_window_s = 300;         // ... within this window, then 429
  // Secret: lets a Prometheus scraper read GET /metrics with
  // `Authorization: Bearer <metrics_token>`. Empty: only logged-in users and
  // API tokens may (metrics name the cameras).
  std::string metrics_token;
};

// The Rekognition-compatible API on the HTTP server (POST / with X-Amz-Target;
// docs/rekognition.md). Callers sign with access keys from `concierge aws-key`.
struct AwsConfig {
  bool enabled = true;
  // Secret: encrypts the secret access keys at rest (>= 32 characters, e.g.
  // `openssl rand -hex 32`). Without it no key can be created or used.
  std::string key_encryption_secret;
  // The CollectionId that is the office's own face collection, so faces
  // indexed through the API are recognised by the cameras and people enrolled
  // in the UI are found by the API. Empty: the name in recognition.collection.
  std::string office_collection_id;
  // The Bucket that Image.S3Object names are read from (the object store).
  // Empty: objects.s3_bucket.
  std::string s3_bucket;
  int max_clock_skew_s = 300;       // SigV4 requests signed further from now are refused
};

// How long things are kept; a background job deletes what is older.
// Training faces are kept until their person is forgotten.
struct RetentionConfig {
  int unknown_crops_days = 7;
  int known_crops_days = 30;
  int events_days = 90;             // sightings, visits, outbox rows, audit entries
  int interval_s = 3600;            // how often the job runs
  // Embeddings-only mode: no face picture outlives its decision. Recognition
  // deletes each sighting's picture once decided (keeping its record, vectors
  // and visit), gallery faces keep only their vectors, messages and the UI go
  // without pictures, and each retention pass deletes any picture still stored
  // (those from before the switch). The *_crops_days then have nothing to do.
  bool embeddings_only = false;
};

struct Config {
  std::string data_dir;             // required; CONCIERGE_DATA_DIR or --data-dir
  std::string log_level = "info";
  VisionConfig vision;
  QualityGate quality;
  RecognitionConfig recognition;
  BusConfig bus;
  EdgeConfig edge;
  ServeConfig serve;
  ObjectStoreConfig objects;
  DatabaseConfig database;
  NotifyConfig notify;
  HttpConfig http;
  AuthConfig auth;
  AwsConfig aws;
  RetentionConfig retention;
  // The file --config named (not a setting itself); empty: <data_dir>/config.json.
  std::string config_file;

  // Paths derived from data_dir when left empty.
  std::string DatabasePath() const;
  std::string ObjectRoot() const;
  std::string SpoolDir() const;
  // <data_dir>/index: the saved search indexes, a cache the server rebuilds
  // when it is missing or stale.
  std::string IndexDir() const;
  std::string ConfigFilePath() const;  // config_file, else <data_dir>/config.json
};

// Settings that name files, hosts that receive secrets, or listening
// addresses. They come only from the config file or the environment; the
// settings API refuses to change them, so an admin login cannot serve /etc
// through http.web_dir or send the bot token to another host. Dotted paths;
// each covers everything under it.
inline constexpr const char* kFileOnlySettings[] = {
    "data_dir",           "vision.models_dir",     "bus.mqtt.host",
    "bus.mqtt.port",      "bus.mqtt.tls_ca_file",  "edge.cameras",
    "edge.spool_dir",     "objects.root",          "objects.s3_endpoint",
    "database.sqlite_path", "database.postgres_url", "notify.slack_api_url",
    "notify.webhook_url", "notify.webhook_secret", "http.bind",
    "http.port",          "http.web_dir",          "http.tls_cert_file",
    "http.tls_key_file"};

// True when the dotted key is, or lies under, one of kFileOnlySettings.
bool IsFileOnlySetting(const std::string& dotted_key);

// Splits a settings patch (a JSON merge patch of the config) into what the
// database may store (no file-only setting, no secret: a password, token,
// secret key or the PostgreSQL URL) and the rest, for the
// config file; a null (reset to the default) of a storable key goes to both.
// Either may come back empty ({}).
void SplitSettingsPatch(const nlohmann::json& patch, nlohmann::json* storable,
                        nlohmann::json* file_part);

// `loaded` with the settings saved in the database laid over it: what
// SplitSettingsPatch would not store is ignored, and an environment variable
// still wins for every key it names. kInvalidArgument when the result is no
// valid config.
Result<Config> ConfigWithStoredSettings(const Config& loaded, const nlohmann::json& stored);

// Loads the layered config. `data_dir` comes from the flag (may be empty, then
// CONCIERGE_DATA_DIR, then ./concierge-data). `config_file` may be empty: then
// <data_dir>/config.json is read if it exists. Unknown keys and wrong types in
// the file are errors, so typos never pass silently.
Result<Config> LoadConfig(const std::string& data_dir, const std::string& config_file);

// Parses a JSON document over the defaults. Exposed for tests.
Result<Config> ConfigFromJson(const nlohmann::json& doc);

// The config as JSON with secrets replaced by "***"; safe to log or show.
nlohmann::json RedactedConfig(const Config& config);

// Default folder of the model cache that scripts/setup.sh fills.
std::string DefaultModelsDir();

}  // namespace concierge
