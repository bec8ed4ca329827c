#include "app/server_pipeline.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <thread>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "app/shutdown_signal.h"
#include "bus/bus_group.h"
#include "bus/inprocess_bus.h"
#include "pipeline/edge.h"
#include "store/open_face_repository.h"

namespace concierge {

namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// Long enough for any queue a healthy pipeline holds; a stuck one is reported.
constexpr milliseconds kDrainTimeout{10 * 60 * 1000};
// How long `serve` waits for its subscription before saying it is not ready yet.
constexpr milliseconds kReadyTimeout{10'000};

}  // namespace

ServerPipeline::ServerPipeline(const Config& config, nlohmann::json settings_in_force,
                               std::function<void()> request_restart)
    : config_(config),
      settings_in_force_(std::move(settings_in_force)),
      request_restart_(std::move(request_restart)),
      services_(config_) {}

ServerPipeline::~ServerPipeline() { Stop(); }

Status ServerPipeline::Start(const std::function<Result<std::unique_ptr<Bus>>()>& open_bus) {
  ASSIGN_OR_RETURN(store_, services_.sightings());
  ASSIGN_OR_RETURN(ObjectStore * objects, services_.objects());
  ASSIGN_OR_RETURN(faces_, services_.faces());
  // After the collection: its start-up peak (an index build) then passes
  // before the models take their share.
  ASSIGN_OR_RETURN(engine_, services_.engine());
  RETURN_IF_ERROR(StartChatOps(objects, faces_));
  ASSIGN_OR_RETURN(server_, Server::Start(config_, ServerParts{store_, objects, faces_, &events_,
                                                               engine_}));
  trainer_->SetMatcher(server_->matcher());
  ASSIGN_OR_RETURN(OutboxStore * outbox, services_.outbox());
  ASSIGN_OR_RETURN(retention_,
                   RetentionJob::Start(config_.retention, {store_, objects, faces_, clusters_,
                                                           outbox, audit_}));
  RETURN_IF_ERROR(StartHttp(objects, faces_));
  ASSIGN_OR_RETURN(bus_, open_bus());
  open_bus_ = bus_.get();
  notifier_->Start(bus_.get());
  if (!config_.notify.digest_time.empty()) {
    ASSIGN_OR_RETURN(digest_, DailyDigest::Create(config_, {store_, faces_, notifier_.get()}));
    digest_->Start();
  }
  RETURN_IF_ERROR(StartHomeAssistant(faces_));
  return server_->Subscribe(bus_.get());
}

void ServerPipeline::Stop() {
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
  // The next start loads the index as it is now instead of catching up.
  if (faces_) {
    if (Status saved = faces_->SaveIndex(); !saved.ok())
      spdlog::warn("serve: {}; the next start brings the saved index up to date", saved.message());
  }
}

void ServerPipeline::AttachEdge(EdgeStage* edge) {
  std::lock_guard lock(edge_mu_);
  edge_ = edge;
}

std::string ServerPipeline::http_url() const { return http_ ? http_->url() : ""; }

void ServerPipeline::Hurry() {
  if (server_) server_->Hurry();
}

Status ServerPipeline::StartChatOps(ObjectStore* objects, FaceCollection* faces) {
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
      TrainerParts{engine_, store_, objects, faces, clusters_, audit_,
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

Status ServerPipeline::StartHomeAssistant(FaceCollection* faces) {
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

Status ServerPipeline::StartHttp(ObjectStore* objects, FaceCollection* faces) {
  if (!config_.http.enabled) return Status::Ok();
  ApiContext parts;
  parts.config = &config_;
  ASSIGN_OR_RETURN(parts.accounts, services_.accounts());
  if (config_.aws.enabled) {
    ASSIGN_OR_RETURN(parts.rekognition, services_.rekognition());
    // On PostgreSQL this opens no SQLite file.
    ASSIGN_OR_RETURN(Database * sqlite, services_.SqliteIfUsed());
    parts.open_face_repository = [database = config_.database,
                                  sqlite](const std::string& collection) {
      return OpenFaceRepository(database, sqlite, collection);
    };
  }
  parts.sightings = store_;
  parts.objects = objects;
  parts.faces = faces;
  parts.engine = engine_;
  parts.matcher = server_->matcher();
  parts.events = &events_;
  parts.audit = audit_;
  parts.clusters = clusters_;
  parts.trainer = trainer_.get();
  parts.slack = slack_interactions_.get();
  parts.cameras = &cameras_;
  parts.request_restart = request_restart_;
  ASSIGN_OR_RETURN(parts.settings, services_.settings());
  parts.settings_in_force = settings_in_force_;
  parts.apply_camera = [this](const std::string& name,
                              const std::optional<CameraConfig>& camera) -> Status {
    std::lock_guard lock(edge_mu_);
    if (edge_ == nullptr)
      return Status::Unavailable(
          "saved; no camera reader runs in this process, so `concierge edge` (or `concierge "
          "run`) picks it up at its next start");
    if (!camera) return edge_->RemoveCamera(name);
    const Status replaced = edge_->ReplaceCamera(*camera);
    return replaced.code() == Status::Code::kNotFound ? edge_->AddCamera(*camera) : replaced;
  };
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

namespace {

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

// RunServe and RunEmbedded up to their stop; `restart` is what the API asks.
Status ServeUntilStopped(Config config, const ServeOptions& options, RestartRequest& restart) {
  ASSIGN_OR_RETURN(nlohmann::json settings_in_force, ApplyStoredSettings(config));
  config.bus.kind = "mqtt";
  if (!options.client_id.empty()) config.bus.mqtt.client_id = options.client_id;
  // A stable id gives a persistent session: the broker keeps what arrives while we are down.
  if (config.bus.mqtt.client_id.empty())
    config.bus.mqtt.client_id = "concierge-serve-" + HostName();
  ShutdownSignal::Block();
  std::vector<MqttBus*> connections;
  ServerPipeline pipeline(config, std::move(settings_in_force), [&restart] { restart.Request(); });
  RETURN_IF_ERROR(pipeline.Start([&]() -> Result<std::unique_ptr<Bus>> {
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
  }));
  ShutdownSignal shutdown("skip the queued work; it stays pending for the next start",
                          [&pipeline] { pipeline.Hurry(); });
  Status subscribed;
  for (MqttBus* connection : connections) {
    subscribed = connection->WaitSubscribed(kReadyTimeout);
    if (!subscribed.ok()) break;
  }
  if (subscribed.code() == Status::Code::kPermissionDenied) return subscribed;
  if (options.retire) {
    RETURN_IF_ERROR(subscribed);
    return Retire(pipeline, connections, config);
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
  return Status::Ok();
}

Status RunUntilStopped(Config config, const EmbeddedOptions& options, RestartRequest& restart) {
  ASSIGN_OR_RETURN(nlohmann::json settings_in_force, ApplyStoredSettings(config));
  config.bus.kind = "inprocess";
  RETURN_IF_ERROR(ChooseCameras(config, options.source));
  ShutdownSignal::Block();
  ServerPipeline pipeline(config, std::move(settings_in_force), [&restart] { restart.Request(); });
  RETURN_IF_ERROR(pipeline.Start([&]() -> Result<std::unique_ptr<Bus>> {
    return std::unique_ptr<Bus>(std::make_unique<InProcessBus>(config.bus.queue_capacity));
  }));
  ShutdownSignal shutdown("skip the queued work; it stays pending for the next start",
                          [&pipeline] { pipeline.Hurry(); });
  Bus& bus = pipeline.bus();
  const std::string prefix = config.bus.topic_prefix;
  ASSIGN_OR_RETURN(
      std::unique_ptr<EdgeStage> edge,
      EdgeStage::Start(
          config,
          [&bus, prefix](const Sighting& s) {
            return bus.Publish({SightingTopic(prefix, s.site, s.camera), EncodeSighting(s), 1});
          },
          options.once, &pipeline.cameras(), pipeline.engine()));
  pipeline.AttachEdge(edge.get());
  spdlog::info("run: cameras={} source={} once={}", config.edge.cameras.size(),
               config.edge.cameras.front().source, options.once);

  Status edge_status;
  std::thread edge_waiter([&] {
    edge_status = edge->Wait();
    if (options.once && options.keep_serving && edge_status.ok()) {
      if (Status s = bus.Flush(kDrainTimeout); !s.ok()) spdlog::error("run: {}", s.message());
      spdlog::info("run: the sources are done; serving {} until stopped", pipeline.http_url());
      return;
    }
    shutdown.Notify(options.once ? "the sources are done" : "the cameras stopped");
  });
  shutdown.Wait();
  pipeline.AttachEdge(nullptr);
  edge->Stop();  // flushes open tracks to the bus
  edge_waiter.join();
  if (Status s = bus.Flush(kDrainTimeout); !s.ok()) spdlog::error("run: {}", s.message());
  pipeline.Stop();
  return edge_status;
}

}  // namespace

// Each starts again only here, after its run returned: every thread, file and
// socket of the old run (the listening port among them) is closed by then.
Status RunServe(Config config, const ServeOptions& options) {
  RestartRequest restart;
  RETURN_IF_ERROR(ServeUntilStopped(std::move(config), options, restart));
  return restart.requested() ? StartAgain() : Status::Ok();
}

Status RunEmbedded(Config config, const EmbeddedOptions& options) {
  RestartRequest restart;
  const Status ran = RunUntilStopped(std::move(config), options, restart);
  return restart.requested() && ran.ok() ? StartAgain() : ran;
}

}  // namespace concierge
