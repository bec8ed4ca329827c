// The parts notifier and Trainer tests wire together on SQLite under a
// Config's data_dir: the config posting to a FakeSlack, the stores
// (NotifierStores), and the whole chat-ops loop in one process
// (OneProcessPipeline: face engine, Slack client, Trainer, and once started a
// Server and a Notifier on an in-process bus).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bus/inprocess_bus.h"
#include "core/config.h"
#include "core/status.h"
#include "notify/notifier.h"
#include "store/outbox_store.h"
#include "pipeline/events.h"
#include "pipeline/server.h"
#include "pipeline/train.h"
#include "store/audit_log.h"
#include "store/database.h"
#include "store/fs_object_store.h"
#include "support/fake_slack.h"
#include "vision/face_engine.h"

namespace concierge::testing {

// A config with its data in `data_dir` and the installed models, one server
// worker, posting to `slack` in channel C0CONCIERGE: short retry backoffs
// (20-200 ms), no office hours (so no after-hours alerts), no greeting cooldown.
Config NotifierTestConfig(const std::string& data_dir, const FakeSlack& slack);

// The messages in `slack` whose text contains `text`.
std::vector<FakeSlackMessage> MessagesContaining(const FakeSlack& slack, const std::string& text);

// The SQLite-backed stores a notifier, a Trainer and the HTTP API work on.
struct NotifierStores {
  // Opens them all under config.data_dir; strangers cluster within
  // `cluster_threshold` over `cluster_window_ms`.
  Status Open(const Config& config, float cluster_threshold, int64_t cluster_window_ms);

  // What Notifier::Create needs: these stores, with `events` and `slack`
  // (either may be null).
  NotifierParts ForNotifier(EventStream* events, std::shared_ptr<SlackClient> slack) const;

  std::unique_ptr<Database> db;
  std::unique_ptr<FsObjectStore> objects;
  std::unique_ptr<FaceCollection> faces;
  std::unique_ptr<SightingStore> sightings;
  std::unique_ptr<OutboxStore> outbox;
  std::unique_ptr<AuditLog> audit;
  std::unique_ptr<StrangerClusters> clusters;
};

// Ingest, recognition and the notifier in one process on NotifierStores, with
// a Trainer whose actions the notifier reports. Members are public so tests
// can reach every part (and swap the clusters or the Trainer before Start).
class OneProcessPipeline {
 public:
  // `config` must outlive this; Open and Start read it as it is when called.
  explicit OneProcessPipeline(const Config& config) : config_(config) {}
  ~OneProcessPipeline() { Stop(); }
  OneProcessPipeline(const OneProcessPipeline&) = delete;
  OneProcessPipeline& operator=(const OneProcessPipeline&) = delete;

  // Opens the stores (clusters per config.notify.cluster_threshold over an
  // hour), the face engine, the Slack client (config.notify) and the Trainer.
  Status Open();

  // What a Trainer needs: the engine, the stores and the Slack client.
  TrainerParts ForTrainer() const;

  // Starts (or restarts, after Stop) the notifier, the server and the bus,
  // with the Trainer reporting to this notifier and matching with this server.
  void Start();

  // Stops whatever runs (safe when nothing does) and detaches the Trainer.
  void Stop();

  // Publishes a sighting of data-set `photo` captured at `captured_ms` at
  // office/door and returns its id.
  std::string See(const std::string& photo, int64_t captured_ms);

  // Waits until every published sighting is decided and every notification
  // delivered. Stops the event stream: what happens after needs no events.
  void Settle();

  // The stored sighting `id` (empty, after a failed expectation, if absent).
  SightingRecord Record(const std::string& id);

  NotifierStores stores;
  std::unique_ptr<FaceEngine> engine;
  std::shared_ptr<SlackClient> slack;
  std::unique_ptr<Trainer> trainer;
  std::unique_ptr<EventStream> events;
  std::unique_ptr<Notifier> notifier;
  std::unique_ptr<Server> server;
  std::unique_ptr<InProcessBus> bus;

 private:
  const Config& config_;
};

}  // namespace concierge::testing
