#include "bus/bus.h"

#include <mosquitto.h>

#include "bus/inprocess_bus.h"
#include "bus/mqtt_bus.h"
#include "bus/subscription_table.h"

namespace concierge {

Result<std::unique_ptr<Bus>> OpenBus(const BusConfig& config, const std::string& role) {
  if (config.queue_capacity < 1)
    return Status::InvalidArgument("bus.queue_capacity must be >= 1");
  if (config.kind == "inprocess")
    return std::unique_ptr<Bus>(new InProcessBus(config.queue_capacity));
  if (config.kind == "mqtt") {
    ASSIGN_OR_RETURN(auto bus, MqttBus::Open(config, role));
    return std::unique_ptr<Bus>(std::move(bus));
  }
  return Status::InvalidArgument("bus.kind must be 'inprocess' or 'mqtt', got '" + config.kind +
                                 "'");
}

bool TopicMatches(const std::string& filter, const std::string& topic) {
  auto parsed = bus_internal::ParseFilter(filter);
  if (!parsed.ok()) return false;
  bool result = false;
  return mosquitto_topic_matches_sub2(parsed->match.data(), parsed->match.size(), topic.data(),
                                      topic.size(), &result) == MOSQ_ERR_SUCCESS &&
         result;
}

}  // namespace concierge
