// The server half of Concierge as a library: the stages (ingest, recognise,
// notify, train), the HTTP API and the jobs around them, wired from one
// Config. `concierge serve` and `concierge run` are RunServe and RunEmbedded;
// the CLI only parses their arguments and reports the Status.
//
// Thread safety: a ServerPipeline is started, used and stopped from one
// thread; what it starts runs on its own threads.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "app/services.h"
#include "bus/bus.h"
#include "bus/mqtt_bus.h"
#include "core/config.h"
#include "core/status.h"
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

namespace concierge {

// The server and everything it stands on. Tears down in the one safe order:
// the bus first (its handler points at the server), then the server's
// workers, then the event stream.
class ServerPipeline {
 public:
  // `config` has the stored settings applied; `settings_in_force` is the
  // document ApplyStoredSettings returned for it. `request_restart`, when
  // given, is what POST /api/v1/restart calls; it must only ask for the stop
  // (see RestartRequest), never wait for it.
  ServerPipeline(const Config& config, nlohmann::json settings_in_force,
                 std::function<void()> request_restart = {});
  ~ServerPipeline();  // Stop()
  ServerPipeline(const ServerPipeline&) = delete;
  ServerPipeline& operator=(const ServerPipeline&) = delete;

  // Opens the stores and starts the server, then opens its bus with
  // `open_bus` and subscribes: last, so nothing waits for a slow start.
  // Call once.
  Status Start(const std::function<Result<std::unique_ptr<Bus>>()>& open_bus);
  // Lets everything already received through (for at most
  // serve.stop_timeout_ms), then stops. Idempotent.
  void Stop();

  // The web UI and API address, or "" when the HTTP server is off.
  std::string http_url() const;
  // Makes a coming or running Stop leave queued sightings pending.
  void Hurry();
  // Needs a successful Start.
  Bus& bus() { return *bus_; }
  // Needs a successful Start. The engine the server, the trainer and the API
  // share (thread-safe), which `run`'s cameras of stills use too.
  FaceEngine* engine() { return engine_; }
  // The cameras of `run`, for the edge stage and the HTTP API.
  CameraRegistry& cameras() { return cameras_; }
  // Lets the API add, change and remove cameras of `edge` while it runs
  // (nullptr: no longer; returns after a change in progress). Until an edge
  // is attached, the API saves camera changes for the next start. Any thread.
  void AttachEdge(EdgeStage* edge);

 private:
  // The audit log, stranger clusters, trainer, Slack endpoint and notifier.
  // Before the server starts, so the notifier sees every decision.
  Status StartChatOps(ObjectStore* objects, FaceCollection* faces);
  // Home Assistant discovery (notify.home_assistant) on the bus.mqtt broker,
  // over a connection of its own: `run`'s bus is in-process, and retained
  // entity state is no sighting. A broker that is down is no error: the
  // discovery sends when it comes.
  Status StartHomeAssistant(FaceCollection* faces);
  // The REST API, web UI and Slack endpoint unless http.enabled is false. An
  // address that cannot be bound (a port taken by another instance) fails the
  // start: a second instance must not run unnoticed behind the first's UI.
  Status StartHttp(ObjectStore* objects, FaceCollection* faces);

  const Config config_;
  const nlohmann::json settings_in_force_;
  const std::function<void()> request_restart_;
  Services services_;
  SightingStore* store_ = nullptr;  // services_'s
  FaceEngine* engine_ = nullptr;     // services_'s
  FaceCollection* faces_ = nullptr;  // services_'s
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
  std::mutex edge_mu_;  // held while the API changes a camera
  EdgeStage* edge_ = nullptr;  // guarded by edge_mu_
};

struct ServeOptions {
  // The MQTT client id (stable across restarts, so the broker keeps the
  // sessions); empty: bus.mqtt.client_id, else "concierge-serve-<host>".
  std::string client_id;
  // Retire this (stopped) server for good: take what the broker queued for
  // its sessions, then end them.
  bool retire = false;
};

// `concierge serve`: the server on MQTT (whatever bus.kind says) until SIGINT
// or SIGTERM (a second one skips the queued work). kPermissionDenied when the
// broker refuses the subscription; start errors as Start returns them. After
// POST /api/v1/restart it stops the same way and starts the process again
// (StartAgain), returning only if that fails.
Status RunServe(Config config, const ServeOptions& options);

struct EmbeddedOptions {
  std::string source;         // one camera reading this; empty: edge.cameras, else <data_dir>/inbox
  bool once = false;          // process file and folder sources to their end, drain, exit
  bool keep_serving = false;  // with once: serve the API until stopped after the sources end
};

// `concierge run`: edge and server in one process over the in-process bus,
// until a signal (or, with once, the sources' end). Restarts as RunServe does.
Status RunEmbedded(Config config, const EmbeddedOptions& options);

}  // namespace concierge
