// Home Assistant MQTT discovery. Retained config messages at
//   <prefix>/binary_sensor/concierge/<person>_presence/config   one per person
//   <prefix>/sensor/concierge/<camera>_last_stranger/config     one per camera
// make HA create the entities; their states are retained on
//   concierge/ha/person/<person>/presence   "ON" when seen (HA turns it OFF
//                                            after off_delay = the visit window)
//   concierge/ha/camera/<camera>/last_stranger   ISO time of the last stranger
// Forgetting a person publishes an empty retained config, which removes the
// entity in HA, and clears its state.
//
// Every message is retained state, so only the latest per topic matters: what
// the broker cannot take (it is down or not yet connected) waits, one payload
// per topic, and is sent again every retry interval until the broker has it.
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "bus/bus.h"
#include "core/config.h"
#include "core/status.h"
#include "pipeline/events.h"
#include "pipeline/train.h"
#include "store/face_collection.h"

namespace concierge {

// A discovery object id from a store id or camera name: [a-zA-Z0-9_-] only.
std::string HomeAssistantObjectId(const std::string& name);

class HomeAssistantDiscovery : public TrainingObserver {
 public:
  // Needs a bus to the MQTT broker HA listens to, the collection and, as
  // `next`, the observer the trainer had (e.g. the notifier; may be null);
  // all outlive this.
  HomeAssistantDiscovery(const Config& config, Bus* bus, const FaceCollection* faces,
                         TrainingObserver* next,
                         std::chrono::milliseconds retry_interval = std::chrono::seconds(2));
  ~HomeAssistantDiscovery() override;  // Stop()

  // Queues the config of every person and of `cameras`, sends what the broker
  // takes now and starts retrying the rest. An error only if the collection
  // cannot be read.
  Status Start(const std::vector<std::string>& cameras);
  // Ends the retries; what the broker has not taken yet is dropped (it is
  // announced again at the next Start). Idempotent.
  void Stop();

  // Reacts to one event: a known face sets its person present (announcing a
  // person not yet announced); an unknown face sets its camera's last stranger.
  Status HandleEvent(const Event& event);

  // TrainingObserver: forwards to `next`; a forgotten person's entity is removed.
  void ClusterResolved(const StrangerCluster& cluster, const std::string& actor) override;
  void SightingDisowned(const SightingRecord& sighting, const std::string& person_id,
                        const std::string& actor) override;
  void PersonForgotten(const std::string& person_id,
                       const std::vector<int64_t>& clusters) override;
  void ClustersMerged(const StrangerCluster& into, const std::vector<int64_t>& from,
                      const std::string& actor) override;
  void ClusterSplit(const StrangerCluster& from, const StrangerCluster& created,
                    const std::string& actor) override;

  // Retained messages the broker has not taken yet.
  size_t pending() const;

 private:
  void AnnouncePerson(const std::string& person_id, const std::string& name);
  void AnnounceCamera(const std::string& camera);
  // Queues `payload` as the latest state of `topic`, then sends what is queued.
  void Retain(const std::string& topic, const std::string& payload);
  void SendPending();
  void RetryLoop(std::stop_token stop);

  const std::string prefix_;
  const int off_delay_s_;
  Bus* const bus_;
  const FaceCollection* const faces_;
  TrainingObserver* const next_;
  const std::chrono::milliseconds retry_interval_;

  mutable std::mutex mu_;
  std::set<std::string> people_, cameras_;     // announced
  std::map<std::string, std::string> pending_;  // topic -> latest payload not yet sent
  std::condition_variable_any retry_cv_;        // with mu_; wakes the retries on Stop
  std::mutex send_mu_;                          // one sender at a time keeps topics in order
  std::jthread retry_;                          // last: starts once everything above exists
};

}  // namespace concierge
