// The message bus between stages (Frigate's Communicator): publish, subscribe, stop.
// Two backends behind one interface: InProcessBus (embedded `concierge run`) and
// MqttBus (scale-out over Mosquitto). Topics are used verbatim; callers build them
// from BusConfig::topic_prefix.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/config.h"
#include "core/status.h"

namespace concierge {

// One message. The payload is opaque bytes; validating it is the receiver's job.
struct Message {
  std::string topic;
  std::string payload;
  int qos = 1;  // 0, 1 or 2; MqttBus tracks broker acks for 1 and 2
  bool retain = false;  // MqttBus: the broker keeps it for later subscribers (empty: clears)
};

// Called once per delivered message on the bus's dispatcher thread, one call at a
// time, in arrival order. A non-OK return is logged and counted in
// BusStats::handler_errors. MqttBus acknowledges a QoS>0 message to the broker
// when the handler returns, unless it returned kUnavailable ("could not keep
// it"): then it drops the connection unacknowledged and the broker delivers the
// message again. InProcessBus has nobody else to give it to. So a handler must
// make its effect durable and idempotent before it returns OK. A handler may
// Publish (never blocks there) but must not call Flush or Stop.
using Handler = std::function<Status(const Message&)>;

// Counters since the bus was opened.
struct BusStats {
  uint64_t published = 0;       // messages accepted by Publish
  uint64_t delivered = 0;       // handler calls that returned OK
  uint64_t handler_errors = 0;  // handler calls that returned non-OK or threw
  uint64_t dropped = 0;         // messages no handler could take (see each backend)
  uint64_t rejected = 0;        // messages the broker refused (MQTT v5 reason code)
};

class Bus {
 public:
  virtual ~Bus() = default;

  // Needs a topic without wildcards and qos in 0..2. Returns once the message is
  // queued: InProcessBus blocks while its queue is full; MqttBus returns kUnavailable
  // while disconnected. Never drops a message it returned OK for, short of a crash.
  virtual Status Publish(const Message& m) = 0;

  // Needs an MQTT filter (+ and # allowed), optionally "$share/<group>/<filter>".
  // Every later matching message reaches `handler`; for a shared filter each message
  // goes to one member of the group (one bus, or one handler within a bus).
  virtual Status Subscribe(const std::string& topic_filter, Handler handler) = 0;

  // Joins `group` (no '/', '+', '#') of a shared subscription to `filter`.
  Status SubscribeShared(const std::string& group, const std::string& filter, Handler handler) {
    return Subscribe("$share/" + group + "/" + filter, std::move(handler));
  }

  // Waits until every message published before the call has reached the transport's
  // durable point: handlers returned (in-process) or the broker acked (MQTT, qos > 0).
  // kUnavailable when `timeout` passes first. Must not be called from a handler.
  virtual Status Flush(std::chrono::milliseconds timeout) = 0;

  // Refuses new publishes, delivers everything already received, then returns.
  // Idempotent; must not be called from a handler.
  virtual void Stop() = 0;

  // A snapshot of the counters; safe from any thread.
  virtual BusStats Stats() const = 0;

  // OK when the bus can carry messages now, else kUnavailable saying why; safe
  // from any thread. For readiness probes: the in-process bus is always ready.
  virtual Status Ready() const { return Status::Ok(); }
};

// Opens the backend named by config.kind ("inprocess" or "mqtt"). `role` ("edge",
// "serve", ...) names the MQTT client id when none is configured. An unreachable
// broker is not an error here: MqttBus connects and reconnects in the background.
Result<std::unique_ptr<Bus>> OpenBus(const BusConfig& config, const std::string& role);

// True when `topic` matches MQTT `filter` (+ one level, # the rest, $-topics only by
// filters that name them). A "$share/<group>/" prefix on the filter is ignored.
// False for an invalid filter or topic.
bool TopicMatches(const std::string& filter, const std::string& topic);

}  // namespace concierge
