#include "support/notifier_parts.h"

#include <chrono>
#include <utility>

#include <gtest/gtest.h>

#include "pipeline/sighting.h"
#include "store/sqlite_sighting_store.h"
#include "store/stranger_clusters.h"
#include "support/models.h"
#include "support/sighting_crops.h"
#include "support/test_env.h"

namespace concierge::testing {

using namespace std::chrono_literals;

Config NotifierTestConfig(const std::string& data_dir, const FakeSlack& slack) {
  Config config;
  config.data_dir = data_dir;
  config.vision.models_dir = DefaultModelsDir();
  config.serve.workers = 1;
  NotifyConfig& n = config.notify;
  n.slack_api_url = slack.api_url();
  n.slack_bot_token = slack.token();
  n.slack_channel = "C0CONCIERGE";
  n.backoff_initial_ms = 20;
  n.backoff_max_ms = 200;
  n.office_hours = "";
  n.greet_cooldown_min = 0;
  return config;
}

std::vector<FakeSlackMessage> MessagesContaining(const FakeSlack& slack, const std::string& text) {
  std::vector<FakeSlackMessage> out;
  for (const auto& m : slack.Messages())
    if (m.text.find(text) != std::string::npos) out.push_back(m);
  return out;
}

Status NotifierStores::Open(const Config& config, float cluster_threshold,
                            int64_t cluster_window_ms) {
  auto opened_db = Database::OpenSqlite(config.DatabasePath(), 5000);
  if (!opened_db.ok()) return opened_db.status();
  db = std::move(*opened_db);
  auto opened_objects = FsObjectStore::Open(config.ObjectRoot());
  if (!opened_objects.ok()) return opened_objects.status();
  objects = std::move(*opened_objects);
  auto opened_faces = FaceCollection::Open(db.get(), "default", ModelSpaces());
  if (!opened_faces.ok()) return opened_faces.status();
  faces = std::move(*opened_faces);
  sightings = NewSqliteSightingStore(db.get());
  outbox = NewSqliteOutboxStore(db.get());
  audit = NewSqliteAuditLog(db.get());
  clusters = NewSqliteStrangerClusters(db.get(), cluster_threshold, cluster_window_ms);
  return Status::Ok();
}

NotifierParts NotifierStores::ForNotifier(EventStream* events,
                                          std::shared_ptr<SlackClient> slack) const {
  return NotifierParts{outbox.get(),   sightings.get(), objects.get(),   faces.get(),
                       clusters.get(), events,          std::move(slack)};
}

Status OneProcessPipeline::Open() {
  const Status opened = stores.Open(config_, config_.notify.cluster_threshold, 3600000);
  if (!opened.ok()) return opened;
  auto created = FaceEngine::Create(config_.vision);
  if (!created.ok()) return created.status();
  engine = std::move(*created);
  slack = std::make_shared<SlackClient>(SlackClientOptionsFromConfig(config_.notify));
  trainer = std::make_unique<Trainer>(config_.quality, ImageLimits{}, ForTrainer());
  return Status::Ok();
}

TrainerParts OneProcessPipeline::ForTrainer() const {
  return TrainerParts{engine.get(),          stores.sightings.get(), stores.objects.get(),
                      stores.faces.get(),    stores.clusters.get(),  stores.audit.get(),
                      slack.get()};
}

void OneProcessPipeline::Start() {
  events = std::make_unique<EventStream>();
  auto created = Notifier::Create(config_, stores.ForNotifier(events.get(), slack));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  notifier = std::move(*created);
  trainer->SetObserver(notifier.get());
  notifier->Listen();
  auto started = Server::Start(config_, {stores.sightings.get(), stores.objects.get(),
                                         stores.faces.get(), events.get()});
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  server = std::move(*started);
  trainer->SetMatcher(server->matcher());
  bus = std::make_unique<InProcessBus>(256);
  notifier->Start(bus.get());
  ASSERT_OK(server->Subscribe(bus.get()));
}

void OneProcessPipeline::Stop() {
  if (trainer) {
    trainer->SetMatcher(nullptr);
    trainer->SetObserver(nullptr);
  }
  if (bus) bus->Stop();
  if (server) server->Stop();
  if (events) events->Stop();
  if (notifier) notifier->Stop();
  bus.reset();
  server.reset();
  notifier.reset();
}

std::string OneProcessPipeline::See(const std::string& photo, int64_t captured_ms) {
  const Sighting s = MakeSighting(FaceCrop(photo), "office", "door", captured_ms);
  const std::string topic = SightingTopic(config_.bus.topic_prefix, s.site, s.camera);
  const Status sent = bus->Publish({topic, EncodeSighting(s), 1});
  EXPECT_TRUE(sent.ok()) << sent.ToString();
  return s.id;
}

void OneProcessPipeline::Settle() {
  ASSERT_OK(bus->Flush(60s));
  ASSERT_TRUE(Eventually([&] {
    auto pending = stores.sightings->ListPending();
    return pending.ok() && pending->empty();
  }));
  ASSERT_OK(server->WaitIdle(120s));
  events->Stop();  // delivers what is queued
  ASSERT_TRUE(notifier->outbox().WaitUntilIdle(60000));
}

SightingRecord OneProcessPipeline::Record(const std::string& id) {
  auto s = stores.sightings->Get(id);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? *s : SightingRecord{};
}

}  // namespace concierge::testing
