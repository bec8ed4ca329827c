// `concierge serve` (ingest and recognise off MQTT), `concierge run` (edge and
// server in one process over the in-process bus), and the read side:
// `concierge sightings` and `concierge visits`.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "bus/bus.h"
#include "bus/bus_group.h"
#include "bus/inprocess_bus.h"
#include "bus/mqtt_bus.h"
#include "cli/cli.h"
#include "cli/services.h"
#include "core/clock.h"
#include "http/http_server.h"
#include "notify/daily_digest.h"
#include "notify/home_assistant.h"
#include "notify/notifier.h"
#include "notify/slack_interactions.h"
#include "pipeline/camera_registry.h"
#include "pipeline/edge.h"
#include "pipeline/events.h"
#include "pipeline/retention.h"
#include "pipeline/server.h"
#include "pipeline/train.h"
#include "store/audit_log.h"

namespace concierge::cli {

namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// Long enough for any queue a healthy pipeline holds; a stuck one is reported.
constexpr milliseconds kDrainTimeout{10 * 60 * 1000};
// How long `serve` waits for its subscription before saying it is not ready yet.
constexpr milliseconds kReadyTimeout{10'000};

// SIGINT and SIGTERM, taken from normal delivery: the first wakes Wait(), each
// later one runs `on_repeat` (e.g. "skip the queued work").
class ShutdownSignal {
 public:
  // Blocks both signals in the calling thread and every thread it starts
  // later. Call it before any thread starts, so that none dies of a signal.
  static void Block() {
    const sigset_t set = Signals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }

  // Needs Block() called first. `on_repeat` may be empty.
  explicit ShutdownSignal(std::function<void()> on_repeat)
      : on_repeat_(std::move(on_repeat)), watcher_([this] { Watch(); }) {}
  ~ShutdownSignal() {
    finished_ = true;
    watcher_.join();
  }

  // Wakes Wait(); `why` is logged (empty: silently).
  void Notify(const std::string& why) {
    {
      std::lock_guard lock(mu_);
      if (done_) return;
      done_ = true;
    }
    if (!why.empty()) spdlog::info("shutting down: {}", why);
    cv_.notify_all();
  }
  // Blocks until a signal arrived or Notify was called.
  void Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return done_; });
  }

 private:
  static sigset_t Signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    return set;
  }
  void Watch() {
    const sigset_t set = Signals();
    const timespec tick{0, 100'000'000};
    int seen = 0;
    while (!finished_) {
      const int sig = sigtimedwait(&set, nullptr, &tick);
      if (sig <= 0) continue;
      if (seen++ == 0) {
        Notify(std::string(sig == SIGINT ? "SIGINT" : "SIGTERM") + " (again to skip queued work)");
      } else if (on_repeat_) {
        spdlog::warn("shutting down now: queued work stays pending for the next start");
        on_repeat_();
      }
    }
  }

  const std::function<void()> on_repeat_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::atomic<bool> finished_{false};
  std::thread watcher_;  // last: starts once everything above exists
};

// The server half of the pipeline and everything it stands on. Tears down in
// the one safe order: the bus first (its handler points at the server), then
// the server's workers, then the event stream.
class ServerPipeline {
 public:
  explicit ServerPipeline(const Config& config) : config_(config), services_(config_) {}
  ~ServerPipeline() { Stop(); }

  // Opens the stores and starts the server, then opens its bus with
  // `open_bus` and subscribes: last, so nothing waits for a slow start.
  Status Start(const std::function<Result<std::unique_ptr<Bus>>()>& open_bus) {
    ASSIGN_OR_RETURN(store_, services_.sightings());
    ASSIGN_OR_RETURN(ObjectStore * objects, services_.objects());
    ASSIGN_OR_RETURN(FaceCollection * faces, services_.faces());
    RETURN_IF_ERROR(StartChatOps(objects, faces));
    ASSIGN_OR_RETURN(server_,
                     Server::Start(config_, ServerParts{store_, objects, faces, &events_}));
    trainer_->SetMatcher(server_->matcher());
    ASSIGN_OR_RETURN(OutboxStore * outbox, services_.outbox());
    ASSIGN_OR_RETURN(retention_,
                     RetentionJob::Start(config_.retention, {store_, objects, faces, clusters_,
                                                             outbox, audit_}));
    ASSIGN_OR_RETURN(Database * db, services_.database());
    RETURN_IF_ERROR(StartHttp(db, objects, faces));
    ASSIGN_OR_RETURN(bus_, open_bus());
    open_bus_ = bus_.get();
    notifier_->Start(bus_.get());
    if (!config_.notify.digest_time.empty()) {
      ASSIGN_OR_RETURN(digest_, DailyDigest::Create(config_, {store_, faces, notifier_.get()}));
      digest_->Start();
    }
    RETURN_IF_ERROR(StartHomeAssistant(faces));
    return server_->Subscribe(bus_.get());
  }
  // Lets everything already received through, then stops. Idempotent.
  void Stop() {
    if (std::exchange(stopped_, true)) return;
    cameras_.Close();  // ends open previews
    const auto deadline = std::chrono::steady_clock::now() +
                          milliseconds(std::max(0, config_.serve.stop_timeout_ms));
    if (retention_) retention_->Stop();
    if (digest_) digest_->Stop();
    // Handlers waiting out storage trouble give up, leaving their messages with the broker.
    if (server_) server_->StopIngesting();
    if (bus_) bus_->Stop();
    if (server_) {
      const auto left = std::chrono::duration_cast<milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (Status idle = server_->WaitIdle(std::max(left, milliseconds(0))); !idle.ok()) {
        spdlog::warn("serve: serve.stop_timeout_ms ({}) passed with {}; they stay pending for "
                     "the next start", config_.serve.stop_timeout_ms, idle.message());
        server_->Hurry();
      }
      server_->Stop();
      const ServerStats s = server_->Stats();
      spdlog::info(
          "serve: stopped recorded={} duplicates={} rejected={} decided={} failures={} "
          "left_pending={}",
          s.recorded, s.duplicates, s.rejected, s.decided, s.failures, s.queued);
    }
    events_.Stop();
    if (http_) http_->Stop();  // after the event stream, so no client waits on it
    if (home_assistant_) {  // after the last event and the last forget reached it
      trainer_->SetObserver(notifier_.get());
      home_assistant_->Stop();
      home_assistant_bus_->Stop();
    }
    if (notifier_) notifier_->Stop();  // after the events drained into the outbox
    if (slack_) slack_->Cancel();
    if (slack_check_.joinable()) slack_check_.join();
  }

  // The web UI and API address, or "" when the HTTP server is off.
  std::string http_url() const { return http_ ? http_->url() : ""; }
  // Makes a coming or running Stop leave queued sightings pending.
  void Hurry() {
    if (server_) server_->Hurry();
  }
  Bus& bus() { return *bus_; }
  // The cameras of `run`, for the edge stage and the HTTP API.
  CameraRegistry& cameras() { return cameras_; }
  // Chat-ops parts for the HTTP API; valid after Start. slack_interactions()
  // is null without a Slack signing secret.
  AuditLog* audit() { return audit_; }
  StrangerClusters* clusters() { return clusters_; }
  Trainer* trainer() { return trainer_.get(); }
  SlackInteractions* slack_interactions() { return slack_interactions_.get(); }

 private:
  // The audit log, stranger clusters, trainer, Slack endpoint and notifier.
  // Before the server starts, so the notifier sees every decision.
  Status StartChatOps(ObjectStore* objects, FaceCollection* faces) {
    ASSIGN_OR_RETURN(FaceEngine * engine, services_.engine());
    ASSIGN_OR_RETURN(audit_, services_.audit());
    ASSIGN_OR_RETURN(clusters_, services_.clusters());
    ASSIGN_OR_RETURN(OutboxStore * outbox, services_.outbox());
    const NotifyConfig& n = config_.notify;
    if (!n.slack_bot_token.empty()) {
      slack_ = std::make_shared<SlackClient>(SlackClientOptionsFromConfig(n));
      // Says at start whether Slack works and as whom; off the start path, so a
      // slow Slack does not hold the server up.
      slack_check_ = std::jthread([slack = slack_] {
        const Result<std::string> who = slack->AuthTest();
        if (who.ok())
          spdlog::info("slack: enabled as {}", *who);
        else
          spdlog::error("slack: auth.test failed ({}); greetings and questions will not reach "
                        "Slack until notify.slack_bot_token works (concierge doctor)",
                        who.status().ToString());
      });
    } else {
      spdlog::info("slack: off (no notify.slack_bot_token)");
    }
    trainer_ = std::make_unique<Trainer>(
        config_.quality, services_.image_limits(),
        TrainerParts{engine, store_, objects, faces, clusters_, audit_,
                     slack_.get()});
    if (!n.slack_signing_secret.empty())
      slack_interactions_ = std::make_unique<SlackInteractions>(n.slack_signing_secret,
                                                                trainer_.get());
    ASSIGN_OR_RETURN(notifier_, Notifier::Create(config_, NotifierParts{outbox, store_, objects,
                                                                        faces, clusters_,
                                                                        &events_, slack_}));
    trainer_->SetObserver(notifier_.get());
    notifier_->Listen();
    return Status::Ok();
  }

  // Home Assistant discovery (notify.home_assistant) on the bus.mqtt broker,
  // over a connection of its own: `run`'s bus is in-process, and retained
  // entity state is no sighting. A broker that is down is no error: the
  // discovery sends when it comes.
  Status StartHomeAssistant(FaceCollection* faces) {
    if (!config_.notify.home_assistant) return Status::Ok();
    BusConfig broker = config_.bus;
    broker.kind = "mqtt";
    broker.mqtt.client_id.clear();  // a clean session: retained state is all HA needs
    ASSIGN_OR_RETURN(home_assistant_bus_, MqttBus::Open(broker, "home-assistant"));
    home_assistant_ = std::make_unique<HomeAssistantDiscovery>(
        config_, home_assistant_bus_.get(), faces, notifier_.get());
    std::vector<std::string> cameras;
    for (const CameraConfig& c : config_.edge.cameras) cameras.push_back(c.name);
    RETURN_IF_ERROR(home_assistant_->Start(cameras));
    trainer_->SetObserver(home_assistant_.get());
    events_.Subscribe([ha = home_assistant_.get()](const Event& event) {
      if (Status s = ha->HandleEvent(event); !s.ok())
        spdlog::warn("home assistant: event={} error={}", EventName(event), s.ToString());
    });
    spdlog::info("home assistant: discovery on {}:{} prefix={}", broker.mqtt.host,
                 broker.mqtt.port, config_.notify.home_assistant_prefix);
    return Status::Ok();
  }

  // The REST API, web UI and Slack endpoint unless http.enabled is false. An
  // address that cannot be bound (a port taken by another instance) fails the
  // start: a second instance must not run unnoticed behind the first's UI.
  Status StartHttp(Database* db, ObjectStore* objects, FaceCollection* faces) {
    if (!config_.http.enabled) return Status::Ok();
    auto engine = services_.engine();
    if (!engine.ok())
      spdlog::warn("http: recognize and enrol are off: {}", engine.status().message());
    ApiContext parts;
    parts.config = &config_;
    parts.db = db;
    ASSIGN_OR_RETURN(parts.accounts, services_.accounts());
    parts.sightings = store_;
    parts.objects = objects;
    parts.faces = faces;
    parts.engine = engine.ok() ? *engine : nullptr;
    parts.matcher = server_->matcher();
    parts.events = &events_;
    parts.audit = audit_;
    parts.clusters = clusters_;
    parts.trainer = trainer_.get();
    parts.slack = slack_interactions_.get();
    parts.cameras = &cameras_;
    // The HTTP server starts before the bus opens, so /readyz reads it through open_bus_.
    parts.readiness.push_back({"storage", [this] { return server_->StorageStatus(); }});
    parts.readiness.push_back({"bus", [this]() -> Status {
                                 const Bus* bus = open_bus_.load();
                                 return bus ? bus->Ready()
                                            : Status::Unavailable("the bus is not open yet");
                               }});
    ASSIGN_OR_RETURN(http_, HttpServer::Start(parts));
    spdlog::info("http: serving url={} web_dir={}", http_->url(),
                 config_.http.web_dir.empty() ? "(built in)" : config_.http.web_dir);
    return Status::Ok();
  }

  const Config config_;
  Services services_;
  SightingStore* store_ = nullptr;  // services_'s
  EventStream events_;
  AuditLog* audit_ = nullptr;             // services_'s
  StrangerClusters* clusters_ = nullptr;  // services_'s
  std::shared_ptr<SlackClient> slack_;
  std::jthread slack_check_;  // the auth.test at start
  std::unique_ptr<Trainer> trainer_;
  std::unique_ptr<SlackInteractions> slack_interactions_;
  std::unique_ptr<Notifier> notifier_;
  std::unique_ptr<DailyDigest> digest_;
  std::unique_ptr<Bus> bus_;
  std::atomic<const Bus*> open_bus_{nullptr};  // bus_, once open; read by /readyz
  std::unique_ptr<Server> server_;
  std::unique_ptr<RetentionJob> retention_;
  CameraRegistry cameras_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<MqttBus> home_assistant_bus_;
  std::unique_ptr<HomeAssistantDiscovery> home_assistant_;  // publishes on home_assistant_bus_
  bool stopped_ = false;
};

std::string HostName() {
  char name[256] = {0};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == 0) return "localhost";
  std::string id;
  for (const char* c = name; *c; ++c)
    id += (std::isalnum(static_cast<unsigned char>(*c)) || *c == '-') ? *c : '-';
  return id;
}

// How long `serve --retire` waits after the last message its sessions held.
constexpr milliseconds kRetireQuiet{3'000};

// Retiring: stop taking a share of new sightings, ingest what the sessions
// queued until nothing came for kRetireQuiet, stop, then end the sessions.
Status Retire(ServerPipeline& pipeline, const std::vector<MqttBus*>& connections,
              const Config& config) {
  const std::string filter = SightingFilter(config.bus);
  for (MqttBus* connection : connections) RETURN_IF_ERROR(connection->Unsubscribe(filter));
  spdlog::info("serve: retiring; taking what the broker queued for {} sessions",
               connections.size());
  uint64_t seen = ~uint64_t{0};
  for (;;) {
    const BusStats stats = pipeline.bus().Stats();
    const uint64_t now = stats.delivered + stats.handler_errors + stats.dropped;
    if (now == seen) break;
    seen = now;
    std::this_thread::sleep_for(kRetireQuiet);
  }
  std::vector<std::string> ids;
  for (MqttBus* connection : connections) ids.push_back(connection->client_id());
  pipeline.Stop();
  for (const std::string& id : ids) {
    RETURN_IF_ERROR(EndMqttSession(config.bus.mqtt, id, kReadyTimeout));
    spdlog::info("serve: ended the broker session of '{}'", id);
  }
  return Status::Ok();
}

int RunServe(Context& ctx, const std::string& client_id, bool retire) {
  auto loaded = ctx.config();
  if (!loaded.ok()) return Fail(ctx, loaded.status());
  Config config = **loaded;
  config.bus.kind = "mqtt";
  if (!client_id.empty()) config.bus.mqtt.client_id = client_id;
  // A stable id gives a persistent session: the broker keeps what arrives while we are down.
  if (config.bus.mqtt.client_id.empty())
    config.bus.mqtt.client_id = "concierge-serve-" + HostName();
  ShutdownSignal::Block();
  std::vector<MqttBus*> connections;
  ServerPipeline pipeline(config);
  const Status started = pipeline.Start([&]() -> Result<std::unique_ptr<Bus>> {
    // Connection i > 0 is "<client id>-<i>": stable, so each keeps its session.
    std::vector<std::unique_ptr<Bus>> members;
    for (int i = 0; i < std::max(1, config.serve.ingest_connections); ++i) {
      BusConfig member = config.bus;
      if (i > 0) member.mqtt.client_id += "-" + std::to_string(i);
      ASSIGN_OR_RETURN(auto bus, MqttBus::Open(member, "serve"));
      connections.push_back(bus.get());
      members.push_back(std::move(bus));
    }
    return std::unique_ptr<Bus>(std::make_unique<BusGroup>(std::move(members)));
  });
  if (!started.ok()) return Fail(ctx, started);
  ShutdownSignal shutdown([&pipeline] { pipeline.Hurry(); });
  Status subscribed;
  for (MqttBus* connection : connections) {
    subscribed = connection->WaitSubscribed(kReadyTimeout);
    if (!subscribed.ok()) break;
  }
  if (subscribed.code() == Status::Code::kPermissionDenied) return Fail(ctx, subscribed);
  if (retire) {
    if (!subscribed.ok()) return Fail(ctx, subscribed);
    const Status retired = Retire(pipeline, connections, config);
    return retired.ok() ? kExitOk : Fail(ctx, retired);
  }
  if (subscribed.ok())
    spdlog::info("serve: ready client_id={} connections={} filter={}",
                 connections.front()->client_id(), connections.size(),
                 SightingFilter(config.bus));
  else
    spdlog::warn("serve: broker {}:{} not reachable yet; subscribing when it is",
                 config.bus.mqtt.host, config.bus.mqtt.port);
  shutdown.Wait();
  pipeline.Stop();
  return kExitOk;
}

struct RunOptions {
  std::string source;
  bool once = false;
  bool keep_serving = false;  // with once: serve the API until stopped after the sources end
};

// The cameras `run` reads: the configured ones, or one reading `source`, or
// one watching the drop folder <data_dir>/inbox (created if missing).
Status ChooseCameras(Config& config, const std::string& source) {
  if (!source.empty()) {
    CameraConfig camera =
        config.edge.cameras.empty() ? CameraConfig{} : config.edge.cameras.front();
    camera.source = source;
    config.edge.cameras = {camera};
  }
  if (!config.edge.cameras.empty()) return Status::Ok();
  const fs::path inbox = fs::path(config.data_dir) / "inbox";
  std::error_code ec;
  fs::create_directories(inbox, ec);
  if (ec)
    return Status::IoError("cannot create drop folder " + inbox.string() + ": " + ec.message());
  CameraConfig camera;
  camera.source = inbox.string();
  config.edge.cameras = {camera};
  return Status::Ok();
}

int RunRun(Context& ctx, const RunOptions& opts) {
  auto loaded = ctx.config();
  if (!loaded.ok()) return Fail(ctx, loaded.status());
  Config config = **loaded;
  config.bus.kind = "inprocess";
  if (Status s = ChooseCameras(config, opts.source); !s.ok()) return Fail(ctx, s);
  ShutdownSignal::Block();
  ServerPipeline pipeline(config);
  const Status started = pipeline.Start([&]() -> Result<std::unique_ptr<Bus>> {
    return std::unique_ptr<Bus>(std::make_unique<InProcessBus>(config.bus.queue_capacity));
  });
  if (!started.ok()) return Fail(ctx, started);
  ShutdownSignal shutdown([&pipeline] { pipeline.Hurry(); });
  Bus& bus = pipeline.bus();
  const std::string prefix = config.bus.topic_prefix;
  auto edge = EdgeStage::Start(
      config,
      [&bus, prefix](const Sighting& s) {
        return bus.Publish({SightingTopic(prefix, s.site, s.camera), EncodeSighting(s), 1});
      },
      opts.once, &pipeline.cameras());
  if (!edge.ok()) return Fail(ctx, edge.status());
  spdlog::info("run: cameras={} source={} once={}", config.edge.cameras.size(),
               config.edge.cameras.front().source, opts.once);

  Status edge_status;
  std::thread edge_waiter([&] {
    edge_status = (*edge)->Wait();
    if (opts.once && opts.keep_serving && edge_status.ok()) {
      if (Status s = bus.Flush(kDrainTimeout); !s.ok()) spdlog::error("run: {}", s.message());
      spdlog::info("run: the sources are done; serving {} until stopped", pipeline.http_url());
      return;
    }
    shutdown.Notify(opts.once ? "the sources are done" : "the cameras stopped");
  });
  shutdown.Wait();
  (*edge)->Stop();  // flushes open tracks to the bus
  edge_waiter.join();
  if (Status s = bus.Flush(kDrainTimeout); !s.ok()) spdlog::error("run: {}", s.message());
  pipeline.Stop();
  if (!edge_status.ok()) return Fail(ctx, edge_status);
  return kExitOk;
}

// Parses --since: an epoch in ms, an ISO-8601 UTC date or time
// (2026-11-23, 2026-11-23T08:59, 2026-11-23T08:59:01Z), or an age such as 90s, 15m, 2h, 7d.
Result<int64_t> ParseSince(const std::string& text, int64_t now_ms) {
  if (text.empty()) return int64_t{0};
  const char unit = text.back();
  const std::string digits = text.substr(0, text.size() - 1);
  int64_t n = 0;
  auto whole_number = [&n](const std::string& s) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    return ec == std::errc() && end == s.data() + s.size() && n < (int64_t{1} << 42);
  };
  if ((unit == 's' || unit == 'm' || unit == 'h' || unit == 'd') && whole_number(digits)) {
    const int64_t unit_ms = unit == 's'   ? 1000
                            : unit == 'm' ? 60'000
                            : unit == 'h' ? 3'600'000
                                          : 86'400'000;
    return now_ms - n * unit_ms;
  }
  if (text.size() > 8 && whole_number(text)) return n;
  std::tm tm{};
  for (const char* format : {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"}) {
    tm = {};
    const char* end = strptime(text.c_str(), format, &tm);
    if (end && (*end == 0 || std::string(end) == "Z")) return int64_t{timegm(&tm)} * 1000;
  }
  return Status::InvalidArgument(
      "--since '" + text + "' is not a time (2026-11-23T08:00Z), an age (15m, 2h, 7d) or epoch ms");
}

nlohmann::json OptionalJson(const std::optional<std::string>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json SightingJson(const SightingRecord& s) {
  return {{"id", s.id},
          {"camera", s.camera},
          {"site", s.site},
          {"time", FormatIsoUtc(s.captured_ms)},
          {"captured_ms", s.captured_ms},
          {"person", OptionalJson(s.person_id)},
          {"similarity", s.similarity ? nlohmann::json(*s.similarity) : nlohmann::json(nullptr)},
          {"live_score", s.live_score < 0 ? nlohmann::json(nullptr) : nlohmann::json(s.live_score)},
          {"image_key", s.image_key},
          {"decision", ToString(s.decision)},
          {"visit", s.visit_id ? nlohmann::json(*s.visit_id) : nlohmann::json(nullptr)},
          {"track", s.track},
          {"seq", s.seq}};
}

nlohmann::json VisitJson(const VisitRecord& v) {
  return {{"id", v.id},
          {"site", v.site},
          {"person", OptionalJson(v.person_id)},
          {"started", FormatIsoUtc(v.started_ms)},
          {"last", FormatIsoUtc(v.last_ms)},
          {"sightings", v.sightings}};
}

struct ListOptions {
  std::string since;
  int limit = 100;
  std::string camera;
  std::string person;
  bool unknown = false;
};

// Runs `body` with the sighting store opened read-only, reporting open errors.
template <typename Body>
int WithSightings(Context& ctx, const ListOptions& opts, Body body) {
  auto config = ctx.config();
  if (!config.ok()) return Fail(ctx, config.status());
  auto since = ParseSince(opts.since, NowMs());
  if (!since.ok()) return Fail(ctx, since.status());
  Services services(**config, Database::Access::kReadOnly);
  auto store = services.sightings();
  if (!store.ok()) return Fail(ctx, store.status());
  return body(**store, *since);
}

int RunSightings(Context& ctx, const ListOptions& opts) {
  return WithSightings(ctx, opts, [&](SightingStore& store, int64_t since) {
    auto list = store.List({since, opts.limit, opts.camera, opts.person, opts.unknown});
    if (!list.ok()) return Fail(ctx, list.status());
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : *list) {
      out.push_back(SightingJson(s));
      if (!ctx.json())
        std::printf("%s  %-24s %-12s %-10s %-20s sim %-6s live %-5s %s\n", s.id.c_str(),
                    FormatIsoUtc(s.captured_ms).c_str(), s.camera.c_str(), ToString(s.decision),
                    s.person_id.value_or("-").c_str(),
                    s.similarity ? std::to_string(*s.similarity).substr(0, 5).c_str() : "-",
                    s.live_score < 0 ? "-" : std::to_string(s.live_score).substr(0, 4).c_str(),
                    s.image_key.c_str());
    }
    if (ctx.json()) PrintJson({{"sightings", out}});
    return int(kExitOk);
  });
}

int RunVisits(Context& ctx, const ListOptions& opts) {
  return WithSightings(ctx, opts, [&](SightingStore& store, int64_t since) {
    auto list = store.ListVisits(since, opts.limit);
    if (!list.ok()) return Fail(ctx, list.status());
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : *list) {
      out.push_back(VisitJson(v));
      if (!ctx.json())
        std::printf("%-6lld %-12s %-20s %s .. %s  %d sightings\n", static_cast<long long>(v.id),
                    v.site.c_str(), v.person_id.value_or("(stranger)").c_str(),
                    FormatIsoUtc(v.started_ms).c_str(), FormatIsoUtc(v.last_ms).c_str(),
                    v.sightings);
    }
    if (ctx.json()) PrintJson({{"visits", out}});
    return int(kExitOk);
  });
}

}  // namespace

void RegisterServeCommands(CLI::App& app, Context& ctx, Runner* slot) {
  static std::string client_id;
  static bool retire = false;
  static RunOptions run;
  static ListOptions list;

  CLI::App* serve =
      AddCommand(app, "serve", "Ingest and recognise sightings from MQTT until stopped", slot,
                 [&ctx] { return RunServe(ctx, client_id, retire); });
  serve->add_option(
      "--client-id", client_id,
      "MQTT client id; keep it stable across restarts (default concierge-serve-<host>)");
  serve->add_flag("--retire", retire,
                  "Retire a stopped server for good: take what the broker queued for its "
                  "sessions, then end them so they no longer take a share of the sightings");

  CLI::App* run_cmd =
      AddCommand(app, "run", "Edge and server in one process (the embedded default)", slot,
                 [&ctx] { return RunRun(ctx, run); });
  run_cmd->add_option(
      "--source", run.source,
      "Camera source: device, URL, video file or folder (default <data-dir>/inbox)");
  run_cmd->add_flag("--once", run.once, "Process a file or folder source to its end, drain, exit");
  run_cmd->add_flag("--keep-serving", run.keep_serving,
                    "With --once: keep the web UI and API up after the sources end, until stopped");

  auto add_list_options = [](CLI::App* cmd) {
    cmd->add_option("--since", list.since,
                    "Only since: 2026-11-23T08:00Z, an age (15m, 2h, 7d) or epoch ms");
    cmd->add_option("--limit", list.limit, "At most this many, newest first (0: all)");
  };
  CLI::App* sightings = AddCommand(app, "sightings", "List recorded sightings", slot,
                                   [&ctx] { return RunSightings(ctx, list); });
  add_list_options(sightings);
  sightings->add_option("--camera", list.camera, "Only this camera");
  sightings->add_option("--person", list.person, "Only this person");
  sightings->add_flag("--unknown", list.unknown, "Only unknown faces");

  CLI::App* visits =
      AddCommand(app, "visits", "List visits", slot, [&ctx] { return RunVisits(ctx, list); });
  add_list_options(visits);
}

}  // namespace concierge::cli
