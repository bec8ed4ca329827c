// The scale-out bus on libmosquitto (MQTT 5 or 3.1.1), with libmosquitto's own
// network thread (mosquitto_loop_start) and one dispatcher thread for handlers.
//
// Delivery guarantees:
// - Publishing: QoS 1 messages are tracked by message id until the broker's PUBACK;
//   Flush() waits for that. libmosquitto keeps unacked messages across reconnects
//   and resends them. Durability across process or broker restarts is the edge
//   Spool's job (spool.h), not this class's.
// - Receiving: libmosquitto has no manual acks; it PUBACKs a QoS 1 message
//   after its receive callback. That callback returns only after the handler
//   has run, so a crash never loses messages queued in this process: the broker
//   still holds them. A handler returning kUnavailable gets its connection cut
//   before the PUBACK, so the broker keeps that message too. Delivery is at
//   least once; the server's handler must store each message durably and
//   idempotently before returning.
// - Sessions: with a configured MqttConfig::client_id the client uses a persistent
//   session (clean_session=false, MQTT 5 session expiry of 7 days), so messages
//   published while a subscriber restarts are queued by the broker and delivered
//   when it comes back; the broker needs `persistence true` to keep them over its
//   own restart. Without a configured id the id is generated
//   (concierge-<role>-<pid>[-n]) and the session is clean, so restarts don't leave
//   orphan sessions behind. A configured id must be unique per live bus.
//   Messages the broker delivers before a matching Subscribe (a resumed session
//   does so right after connecting) are held, up to queue_capacity, and handed to
//   the first matching handler.
// - Routing: with MQTT 5 each filter carries a subscription identifier, so a
//   message reaches exactly the handlers of the subscriptions it was sent for.
//   MQTT 3.1.1 has none: messages are routed by topic, so overlapping filters on
//   one bus (including a shared and a plain one) can see a message twice.
// - Reconnect: automatic, backing off from 1 s to 10 s, also when the broker is
//   down at Open; subscriptions are sent again on every connect. Once connected,
//   libmosquitto's thread gives up on errors it deems fatal (e.g. a host name
//   that no longer resolves); that is logged and Publish keeps returning
//   kUnavailable.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "bus/bus.h"
#include "bus/subscription_table.h"

struct mosquitto;
struct mosquitto_message;
typedef struct mqtt5__property mosquitto_property;

namespace concierge {

class MqttBus final : public Bus {
 public:
  // Needs config.mqtt.protocol 3 or 5, keepalive_s >= 5, a readable tls_ca_file if
  // set. Starts connecting in the background; an unreachable broker is no error.
  // With a persistent session and MQTT 5 the first TCP connect is made here,
  // synchronously (libmosquitto keeps MQTT 5 CONNECT properties only that way).
  static Result<std::unique_ptr<MqttBus>> Open(const BusConfig& config, const std::string& role);
  ~MqttBus() override;  // Stop()
  MqttBus(const MqttBus&) = delete;
  MqttBus& operator=(const MqttBus&) = delete;

  // kUnavailable while disconnected. Blocks while queue_capacity QoS>0 messages
  // await their PUBACK (not when called from a handler). kTooLarge when the broker's
  // maximum packet size is exceeded; kFailedPrecondition after Stop.
  Status Publish(const Message& m) override;
  // Registers the handler; the subscription is sent now if connected and again on
  // every connect. Use WaitSubscribed to know when the broker has it.
  Status Subscribe(const std::string& topic_filter, Handler handler) override;
  // Asks the broker to stop sending `topic_filter`'s messages on this connection
  // (now and on every later connect) while its handler stays: messages the
  // session had queued still reach it. For retiring a server's session.
  Status Unsubscribe(const std::string& topic_filter);
  // Waits until no QoS>0 message published before or during the call awaits its PUBACK.
  Status Flush(std::chrono::milliseconds timeout) override;
  // Waits up to 2 s for outstanding PUBACKs, disconnects, then runs the handlers of
  // every message already received. Outstanding messages are reported, not kept.
  void Stop() override;
  // As Bus; `dropped` counts held messages no handler claimed (overflow or Stop).
  BusStats Stats() const override;

  // True between CONNACK and the next disconnect.
  bool IsConnected() const { return connected_; }
  // kUnavailable naming the broker while disconnected.
  Status Ready() const override;
  // Waits until connected and the broker has acknowledged every subscription on
  // this connection. kPermissionDenied if the broker refused one; kUnavailable on
  // timeout. Not from a handler.
  Status WaitSubscribed(std::chrono::milliseconds timeout);
  // The MQTT client id in use (configured, or generated from the role).
  const std::string& client_id() const { return client_id_; }

 private:
  struct Inbound {
    Message message;
    std::vector<uint32_t> subscription_ids;
    uint64_t seq = 0;  // arrival order, to tell the receiving callback it was handled
  };
  struct MosqDeleter {
    void operator()(struct mosquitto* m) const;
  };

  MqttBus(const BusConfig& config, std::string client_id, bool persistent);
  Status Connect();
  // One TCP connect + CONNECT as configured; a libmosquitto error code.
  int ConnectOnce();
  void SendSubscribe(const std::string& filter, uint32_t id);  // needs mu_ held
  void Run();
  bool OnDispatcher() const;

  static void OnConnect(struct mosquitto*, void* self, int rc, int flags,
                        const mosquitto_property* props);
  static void OnDisconnect(struct mosquitto*, void* self, int rc,
                           const mosquitto_property* props);
  static void OnPublish(struct mosquitto*, void* self, int mid, int reason,
                        const mosquitto_property* props);
  static void OnSubscribe(struct mosquitto*, void* self, int mid, int count, const int* granted,
                          const mosquitto_property* props);
  static void OnMessage(struct mosquitto*, void* self, const struct mosquitto_message* msg,
                        const mosquitto_property* props);

  const MqttConfig config_;
  const std::string client_id_;
  const bool persistent_;
  const size_t capacity_;
  std::unique_ptr<struct mosquitto, MosqDeleter> mosq_;
  bus_internal::SubscriptionTable table_;
  std::atomic<bool> connected_{false};
  std::atomic<bool> stopping_{false};

  // Connection and subscription state. Lock order: libmosquitto's callback lock, then mu_.
  std::mutex mu_;
  std::condition_variable sub_cv_;
  std::map<int, std::string> pending_subacks_;  // SUBSCRIBE mid -> filter
  std::set<std::string> acked_filters_;         // on the current connection
  std::set<std::string> unsubscribed_;          // handlers kept, broker told to stop sending
  std::set<std::string> refused_filters_;

  // Published messages awaiting their ack. Held across mosquitto_publish so an ack
  // can never arrive for a mid not yet recorded.
  mutable std::mutex pub_mu_;
  std::condition_variable pub_cv_;
  std::map<int, uint64_t> outstanding_;  // mid -> publish sequence number
  std::set<uint64_t> pending_seqs_;       // sequence numbers of outstanding_
  uint64_t next_seq_ = 0;
  uint64_t published_ = 0;

  // Received messages waiting for the dispatcher, and those no handler wanted yet.
  // The receiving callback waits until its message was handled (q_handled_),
  // because libmosquitto acks a QoS-1 message when the callback returns: a
  // crash before that makes the broker send it again instead of losing it.
  std::mutex q_mu_;
  std::condition_variable q_not_empty_, q_not_full_, q_handled_;
  uint64_t received_seq_ = 0, handled_seq_ = 0;
  std::deque<Inbound> queue_;
  std::deque<Inbound> held_;
  bool draining_ = false;

  std::atomic<uint64_t> delivered_{0}, handler_errors_{0}, dropped_{0}, rejected_{0};

  std::mutex stop_mu_;
  bool stopped_ = false;
  std::thread dispatcher_;
  // Retries a first connect that failed: libmosquitto's loop thread (2.0.11)
  // never does, so a broker that was down at Open would never be reached.
  std::jthread first_connect_;
};

// Ends the broker's persistent session for `client_id` (what it queued and its
// place in shared subscriptions) by connecting with a clean session and leaving.
// Needs the client that used the id to be stopped: the broker would hand the id
// over and cut it off. kUnavailable when the broker cannot be reached within
// `timeout`; kPermissionDenied when it refuses the connection.
Status EndMqttSession(const MqttConfig& config, const std::string& client_id,
                      std::chrono::milliseconds timeout);

}  // namespace concierge
