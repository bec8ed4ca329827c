#include "notify/mqtt_events.h"

namespace concierge {

std::string EventTopic(const std::string& prefix, const std::string& site,
                       const std::string& kind) {
  return prefix + "/" + site + "/events/" + kind;
}

std::string PresenceTopic(const std::string& prefix, const std::string& site,
                          const std::string& person_id) {
  return prefix + "/" + site + "/people/" + person_id + "/presence";
}

MqttEventCommunicator::MqttEventCommunicator(Bus* bus) : bus_(bus) {}

Result<std::string> MqttEventCommunicator::Publish(const Notification& n) {
  if (stopped_) return Status::Unavailable("mqtt events: stopped");
  const nlohmann::json& p = n.payload;
  const std::string topic = p.value("topic", "");
  if (topic.empty() || !p.contains("event"))
    return Status::InvalidArgument("mqtt notification '" + n.kind + "' has no topic or event");
  nlohmann::json event = p["event"];
  event["idempotency_key"] = n.idempotency_key;
  Status sent = bus_->Publish(Message{topic, event.dump(), 1});
  if (!sent.ok()) return Status::Unavailable("mqtt events: " + sent.message());
  return topic;
}

}  // namespace concierge
