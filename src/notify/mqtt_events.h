// The MQTT event Communicator, for Home Assistant and Node-RED: publishes a
// notification's JSON event on the bus, under topics such as
//   <prefix>/<site>/events/arrival        a known person's visit started
//   <prefix>/<site>/events/unknown        a stranger's visit started
//   <prefix>/<site>/people/<id>/presence  {"state": "present", ...}
#pragma once

#include <atomic>
#include <string>

#include "bus/bus.h"
#include "notify/communicator.h"

namespace concierge {

// The topic for an event `kind` ("arrival", "unknown") at `site`.
std::string EventTopic(const std::string& prefix, const std::string& site,
                       const std::string& kind);
// The presence topic of a person at `site`.
std::string PresenceTopic(const std::string& prefix, const std::string& site,
                          const std::string& person_id);

// Payload it understands: {"topic": "<topic>", "event": {...}}. Delivery is
// at least once (QoS 1): a redelivery after a crash may repeat an event, and
// the event's "idempotency_key" lets subscribers drop the repeat.
class MqttEventCommunicator : public Communicator {
 public:
  // Needs a bus that outlives this.
  explicit MqttEventCommunicator(Bus* bus);

  std::string name() const override { return "mqtt"; }
  // Receipt: the topic. A bus refusing the message is kUnavailable (retried).
  Result<std::string> Publish(const Notification& notification) override;
  void Stop() override { stopped_ = true; }

 private:
  Bus* const bus_;
  std::atomic<bool> stopped_{false};
};

}  // namespace concierge
