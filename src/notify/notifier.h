// The notify stage: turns pipeline events into notifications. It listens to
// the EventStream, decides what deserves a message (greeting rules, one
// question per stranger cluster, after-hours alerts, MQTT/webhook events)
// and writes it to the durable Outbox; the outbox worker delivers each row
// through the Dispatcher (Slack, webhook, MQTT events). Slack messages are
// rendered at delivery time from the current state, so an update never shows
// something older than what is stored.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "bus/bus.h"
#include "core/config.h"
#include "core/metrics.h"
#include "core/status.h"
#include "notify/communicator.h"
#include "notify/outbox.h"
#include "notify/slack_client.h"
#include "notify/slack_messages.h"
#include "pipeline/events.h"
#include "pipeline/train.h"
#include "store/face_collection.h"
#include "store/object_store.h"
#include "store/sighting_store.h"
#include "store/stranger_clusters.h"

namespace concierge {

// What the notifier works on; all must outlive it. `events` may be null
// (then only HandleEvent feeds it); `slack` null means no Slack (unless the
// config has a bot token: then the notifier makes its own client).
struct NotifierParts {
  OutboxStore* outbox = nullptr;
  SightingStore* sightings = nullptr;
  ObjectStore* objects = nullptr;
  const FaceCollection* faces = nullptr;
  StrangerClusters* clusters = nullptr;
  EventStream* events = nullptr;
  std::shared_ptr<SlackClient> slack;
};

// A daily window "HH:MM-HH:MM" in minutes after local midnight; it may wrap
// midnight ("22:00-07:00").
struct DailyWindow {
  int start_min = 0;
  int end_min = 0;
  // Whether the local time of `ms` falls inside [start, end).
  bool Contains(int64_t ms) const;
};
// Parses "HH:MM-HH:MM"; an empty text gives nullopt; anything else malformed
// is kInvalidArgument.
Result<std::optional<DailyWindow>> ParseDailyWindow(const std::string& text);
// Local midnight before `ms`.
int64_t LocalDayStartMs(int64_t ms);

class Notifier : public TrainingObserver {
 public:
  // Ten minutes of captures: deeper than any backlog a crash interrupts, and
  // late enough that a greeting made after a restart still means "just arrived".
  static constexpr int64_t kCatchUpWindowMs = 10 * 60 * 1000;

  // Whether config asks for any notification channel: Slack (token and
  // channel), a webhook, or MQTT events (config.notify.mqtt_events).
  static bool Wanted(const Config& config);

  // Needs the parts above and a valid notify config (time windows parse).
  // Builds the communicators and the outbox; starts nothing.
  static Result<std::unique_ptr<Notifier>> Create(const Config& config, NotifierParts parts);
  ~Notifier() override;  // Stop()
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Subscribes to the event stream: from now on events are queued in the
  // outbox. Call early (before the pipeline starts deciding) so none is missed.
  void Listen();
  // Listen()s if needed, catches up on the last kCatchUpWindowMs of decisions
  // (what a crash between recording a decision and queuing its notification
  // lost, on this server or another; every queue is idempotent by key) and,
  // when Wanted(), starts delivering (without any channel it only clusters
  // strangers). `bus` carries the MQTT events
  // when config.notify.mqtt_events is on (null: those rows fail); it must
  // outlive Stop(). Call once.
  void Start(Bus* bus);
  // Stops listening, cuts delivery retries short and joins the outbox worker;
  // rows not yet delivered stay for the next start. Idempotent.
  void Stop();

  // Reacts to one event (what the subscription calls). Errors are storage
  // trouble; the event is then lost for notifications (the record is kept).
  Status HandleEvent(const Event& event);

  // Queues the daily digest `text` for `date` to the digest channel (else
  // slack_channel); the same date again is a no-op. Returns whether it was
  // queued now; kFailedPrecondition without Slack.
  Result<bool> EnqueueDigest(const std::string& date, const std::string& text);

  // The outbox every notification goes through (for tests and status).
  Outbox& outbox() { return *outbox_; }

  // TrainingObserver: updates the Slack messages, forgets queued rows.
  void ClusterResolved(const StrangerCluster& cluster, const std::string& actor) override;
  void SightingDisowned(const SightingRecord& sighting, const std::string& person_id,
                        const std::string& actor) override;
  void PersonForgotten(const std::string& person_id,
                       const std::vector<int64_t>& clusters) override;
  void ClustersMerged(const StrangerCluster& into, const std::vector<int64_t>& from,
                      const std::string& actor) override;
  void ClusterSplit(const StrangerCluster& from, const StrangerCluster& created,
                    const std::string& actor) override;

 private:
  struct Windows {
    std::optional<DailyWindow> quiet, office;
  };
  Notifier(const Config& config, NotifierParts parts, Windows windows);

  // Replays the decided-unknown and visit-started events of sightings
  // captured since `since_ms`.
  Status CatchUp(int64_t since_ms);
  Status OnStranger(const SightingRecord& sighting);
  // Queues the "who is this?" question about an open cluster (its face
  // `sighting`) unless asked before or the face fails the quality gate.
  // Returns whether it was asked before.
  Result<bool> Ask(const StrangerCluster& cluster, const SightingRecord& sighting);
  // Updates the questions about merged clusters and the one they joined.
  Status UpdateMerged(const StrangerCluster& into, const std::vector<int64_t>& from,
                      const std::string& actor);
  Status OnVisitStarted(const VisitRecord& visit, const std::string& sighting_id);
  Status MaybeGreet(const VisitRecord& visit, const SightingRecord& sighting);
  // A direct message to the person's host (PersonPreferences::host), if any.
  Status TellHost(const VisitRecord& visit, const SightingRecord& sighting);
  // A direct message about a newly asked stranger to everyone who wants one.
  Status AlertSubscribers(const StrangerCluster& cluster, const SightingRecord& sighting);
  // MQTT and webhook events about a visit: "arrival" or "unknown".
  Status EnqueueVisitEvents(const std::string& kind, const VisitRecord& visit,
                            const SightingRecord& sighting);
  // Enqueues a Slack update of the message posted under `original_key`, if
  // that message was queued at all.
  Status EnqueueSlackUpdate(const std::string& original_key, const std::string& key,
                            const std::string& kind, nlohmann::json payload);
  Status Enqueue(const std::string& kind, const std::string& channel, const std::string& key,
                 nlohmann::json payload);
  // A greeting message as the people it names: its visit's person first, then
  // those whose visits joined it (notify.group_greeting_s).
  struct GreetingMember {
    std::string person_id;
    std::string sighting_id;
  };
  Result<std::vector<GreetingMember>> GreetingGroup(int64_t visit_id);
  // Visits at `site` that started in [from_ms, to_ms], earliest first (a
  // greeted visit may have lost its name to a "Not me" since).
  Result<std::vector<VisitRecord>> VisitsStarting(const std::string& site, int64_t from_ms,
                                                  int64_t to_ms);
  // The earliest greeted visit at `visit`'s site that started up to
  // group_greeting_s before it, whose message it can join; nullopt if none.
  Result<std::optional<int64_t>> GroupToJoin(const VisitRecord& visit);
  // The visit whose message greets visit `visit_id`: its own, or the group's
  // it joined; nullopt if it was not greeted.
  Result<std::optional<int64_t>> GreetedIn(int64_t visit_id);
  // The greeting of visit `visit_id` as it stands: everyone still named, with
  // the first face's crop (its key in `image_key`).
  Result<SlackContent> RenderGreeting(int64_t visit_id, std::string* image_key);
  // The latest greeting's visit start for a person, if any.
  Result<std::optional<int64_t>> LastGreetingMs(const std::string& person_id);

  // The outbox's delivery function.
  Result<std::string> Deliver(const OutboxItem& item);
  Result<std::string> DeliverSlack(const OutboxItem& item);
  // Renders a Slack payload ("render": greeting, disowned, cluster, alert)
  // into {"text", "blocks", "image_key"?} from the current state.
  Result<nlohmann::json> Render(const nlohmann::json& payload);
  SeenAt SeenFrom(const SightingRecord& sighting) const;
  std::string PersonMention(const std::string& person_id) const;
  void Count(const std::string& via, const std::string& kind, const std::string& result);

  const Config config_;
  NotifierParts parts_;
  const Windows windows_;
  Dispatcher dispatcher_;
  std::unique_ptr<Outbox> outbox_;
  std::mutex stop_mu_;
  int subscription_ = 0;
  bool started_ = false;
  bool stopped_ = false;

  // Metrics; only the outbox worker touches the map.
  std::map<std::string, Counter*> notifications_;
  Gauge& outbox_depth_;
  Histogram& capture_to_notify_;
};

}  // namespace concierge
