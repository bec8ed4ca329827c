#include "bus/mqtt_bus.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <condition_variable>

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <spdlog/spdlog.h>

namespace concierge {

namespace {

constexpr uint32_t kSessionExpiryS = 7 * 24 * 3600;
constexpr unsigned kReconnectMinS = 1, kReconnectMaxS = 10;
constexpr auto kStopFlushTimeout = std::chrono::seconds(2);

thread_local const MqttBus* t_dispatching = nullptr;

std::once_flag g_lib_init;

std::string GeneratedClientId(const std::string& role) {
  static std::atomic<int> counter{0};
  const int n = counter++;
  std::string id = "concierge-" + role + "-" + std::to_string(getpid());
  if (n > 0) id += "-" + std::to_string(n);
  return id;
}

}  // namespace

void MqttBus::MosqDeleter::operator()(struct mosquitto* m) const { mosquitto_destroy(m); }

Result<std::unique_ptr<MqttBus>> MqttBus::Open(const BusConfig& config, const std::string& role) {
  const MqttConfig& mqtt = config.mqtt;
  if (mqtt.protocol != 3 && mqtt.protocol != 5)
    return Status::InvalidArgument("bus.mqtt.protocol must be 3 (3.1.1) or 5, got " +
                                   std::to_string(mqtt.protocol));
  if (mqtt.keepalive_s < 5) return Status::InvalidArgument("bus.mqtt.keepalive_s must be >= 5");
  if (mqtt.host.empty() || mqtt.port <= 0 || mqtt.port > 65535)
    return Status::InvalidArgument("bus.mqtt.host/port must name a broker");
  if (!mqtt.tls_ca_file.empty() && access(mqtt.tls_ca_file.c_str(), R_OK) != 0)
    return Status::InvalidArgument("cannot read bus.mqtt.tls_ca_file '" + mqtt.tls_ca_file + "'");
  std::call_once(g_lib_init, [] { mosquitto_lib_init(); });

  const bool persistent = !mqtt.client_id.empty();
  const std::string id = persistent ? mqtt.client_id : GeneratedClientId(role);
  std::unique_ptr<MqttBus> bus(new MqttBus(config, id, persistent));
  RETURN_IF_ERROR(bus->Connect());
  return bus;
}

MqttBus::MqttBus(const BusConfig& config, std::string client_id, bool persistent)
    : config_(config.mqtt),
      client_id_(std::move(client_id)),
      persistent_(persistent),
      capacity_(static_cast<size_t>(std::max(config.queue_capacity, 1))) {}

MqttBus::~MqttBus() { Stop(); }

bool MqttBus::OnDispatcher() const { return t_dispatching == this; }

Status MqttBus::Connect() {
  mosq_.reset(mosquitto_new(client_id_.c_str(), !persistent_, this));
  if (!mosq_) return Status::Internal("mosquitto_new failed for client id '" + client_id_ + "'");
  struct mosquitto* m = mosq_.get();
  const bool v5 = config_.protocol == 5;
  mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
  mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
  mosquitto_connect_v5_callback_set(m, &MqttBus::OnConnect);
  mosquitto_disconnect_v5_callback_set(m, &MqttBus::OnDisconnect);
  mosquitto_publish_v5_callback_set(m, &MqttBus::OnPublish);
  mosquitto_subscribe_v5_callback_set(m, &MqttBus::OnSubscribe);
  mosquitto_message_v5_callback_set(m, &MqttBus::OnMessage);
  mosquitto_reconnect_delay_set(m, kReconnectMinS, kReconnectMaxS, true);
  if (!config_.username.empty() &&
      mosquitto_username_pw_set(m, config_.username.c_str(),
                                config_.password.empty() ? nullptr : config_.password.c_str()) !=
          MOSQ_ERR_SUCCESS)
    return Status::InvalidArgument("bad bus.mqtt.username");
  if (!config_.tls_ca_file.empty()) {
    const int rc = mosquitto_tls_set(m, config_.tls_ca_file.c_str(), nullptr, nullptr, nullptr,
                                     nullptr);
    if (rc != MOSQ_ERR_SUCCESS)
      return Status::InvalidArgument("TLS setup with '" + config_.tls_ca_file +
                                     "' failed: " + mosquitto_strerror(rc));
  }

  dispatcher_ = std::thread([this] { Run(); });
  spdlog::info("bus: connecting to {}:{} as '{}' (MQTT {}, {} session, user '{}', TLS {})",
               config_.host, config_.port, client_id_, v5 ? "5" : "3.1.1",
               persistent_ ? "persistent" : "clean", config_.username,
               config_.tls_ca_file.empty() ? "off" : "on");
  int rc = ConnectOnce();
  if (rc == MOSQ_ERR_INVAL || rc == MOSQ_ERR_NOT_SUPPORTED)
    return Status::InvalidArgument(std::string("MQTT connect settings rejected: ") +
                                   mosquitto_strerror(rc));
  if (rc == MOSQ_ERR_SUCCESS) {
    rc = mosquitto_loop_start(m);
    if (rc != MOSQ_ERR_SUCCESS)
      return Status::Internal(std::string("mosquitto_loop_start: ") + mosquitto_strerror(rc));
    return Status::Ok();
  }
  spdlog::warn("bus: broker {}:{} not reachable yet ({}); retrying in the background",
               config_.host, config_.port, mosquitto_strerror(rc));
  first_connect_ = std::jthread([this](std::stop_token stop) {
    std::mutex mu;
    std::condition_variable_any wake;  // woken by a stop request
    std::unique_lock lock(mu);
    for (unsigned delay_s = kReconnectMinS;; delay_s = std::min(delay_s * 2, kReconnectMaxS)) {
      wake.wait_for(lock, stop, std::chrono::seconds(delay_s), [] { return false; });
      if (stop.stop_requested()) return;
      if (ConnectOnce() != MOSQ_ERR_SUCCESS) continue;
      if (const int rc = mosquitto_loop_start(mosq_.get()); rc != MOSQ_ERR_SUCCESS)
        spdlog::error("bus: mosquitto_loop_start: {}", mosquitto_strerror(rc));
      return;
    }
  });
  return Status::Ok();
}

int MqttBus::ConnectOnce() {
  struct mosquitto* m = mosq_.get();
  if (persistent_ && config_.protocol == 5) {
    // Without a session expiry an MQTT 5 session ends at disconnect, whatever clean_start says.
    mosquitto_property* props = nullptr;
    mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, kSessionExpiryS);
    const int rc = mosquitto_connect_bind_v5(m, config_.host.c_str(), config_.port,
                                             config_.keepalive_s, nullptr, props);
    mosquitto_property_free_all(&props);
    return rc;
  }
  return mosquitto_connect_bind_async(m, config_.host.c_str(), config_.port, config_.keepalive_s,
                                      nullptr);
}

Status MqttBus::Publish(const Message& m) {
  if (stopping_) return Status::FailedPrecondition("bus stopped");
  RETURN_IF_ERROR(bus_internal::CheckPublishable(m));
  if (m.payload.size() > static_cast<size_t>(INT_MAX))
    return Status::TooLarge("payload of " + std::to_string(m.payload.size()) + " bytes");
  if (!connected_)
    return Status::Unavailable("not connected to broker " + config_.host + ":" +
                               std::to_string(config_.port));
  std::unique_lock lock(pub_mu_);
  if (m.qos > 0 && !OnDispatcher())
    pub_cv_.wait(lock, [&] { return outstanding_.size() < capacity_ || !connected_ || stopping_; });
  if (stopping_) return Status::FailedPrecondition("bus stopped");
  if (!connected_) return Status::Unavailable("disconnected from broker while publishing");
  int mid = 0;
  const int rc = mosquitto_publish_v5(mosq_.get(), &mid, m.topic.c_str(),
                                      static_cast<int>(m.payload.size()), m.payload.data(), m.qos,
                                      m.retain, nullptr);
  switch (rc) {
    case MOSQ_ERR_SUCCESS:
      break;
    case MOSQ_ERR_NO_CONN:
      return Status::Unavailable("disconnected from broker while publishing");
    case MOSQ_ERR_PAYLOAD_SIZE:
    case MOSQ_ERR_OVERSIZE_PACKET:
      return Status::TooLarge("message on '" + m.topic + "' exceeds the broker's packet limit");
    case MOSQ_ERR_INVAL:
    case MOSQ_ERR_MALFORMED_UTF8:
    case MOSQ_ERR_QOS_NOT_SUPPORTED:
      return Status::InvalidArgument("broker cannot take message on '" + m.topic +
                                     "': " + mosquitto_strerror(rc));
    default:
      return Status::Internal(std::string("mosquitto_publish: ") + mosquitto_strerror(rc));
  }
  ++published_;
  if (m.qos > 0) {
    outstanding_[mid] = next_seq_;
    pending_seqs_.insert(next_seq_);
    ++next_seq_;
  }
  return Status::Ok();
}

Status MqttBus::Subscribe(const std::string& topic_filter, Handler handler) {
  if (stopping_) return Status::FailedPrecondition("bus stopped");
  ASSIGN_OR_RETURN(auto parsed, bus_internal::ParseFilter(topic_filter));
  bool is_new = false;
  {
    std::lock_guard lock(q_mu_);
    ASSIGN_OR_RETURN(is_new, table_.Add(topic_filter, parsed, std::move(handler)));
    // Held messages the new handler wants go first, in their arrival order.
    std::deque<Inbound> still_held;
    auto insert_at = queue_.begin();
    for (auto& in : held_) {
      if (table_.Matches(in.message.topic, in.subscription_ids)) {
        insert_at = queue_.insert(insert_at, std::move(in)) + 1;
      } else {
        still_held.push_back(std::move(in));
      }
    }
    held_.swap(still_held);
  }
  q_not_empty_.notify_one();
  if (is_new) {
    std::lock_guard lock(mu_);
    if (connected_)
      SendSubscribe(topic_filter, bus_internal::SubscriptionTable::SubscriptionId(topic_filter));
  }
  return Status::Ok();
}

Status MqttBus::Unsubscribe(const std::string& topic_filter) {
  std::lock_guard lock(mu_);
  unsubscribed_.insert(topic_filter);
  if (connected_) {
    const int rc = mosquitto_unsubscribe(mosq_.get(), nullptr, topic_filter.c_str());
    if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN)
      return Status::Unavailable("unsubscribing from '" + topic_filter +
                                 "' failed: " + mosquitto_strerror(rc));
  }
  return Status::Ok();
}

void MqttBus::SendSubscribe(const std::string& filter, uint32_t id) {
  mosquitto_property* props = nullptr;
  if (config_.protocol == 5)
    mosquitto_property_add_varint(&props, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, id);
  int mid = 0;
  const int rc = mosquitto_subscribe_v5(mosq_.get(), &mid, filter.c_str(), 1, 0, props);
  mosquitto_property_free_all(&props);
  if (rc == MOSQ_ERR_SUCCESS) {
    pending_subacks_[mid] = filter;
  } else if (rc != MOSQ_ERR_NO_CONN) {  // NO_CONN: the next connect subscribes
    spdlog::error("bus: subscribing to '{}' failed: {}", filter, mosquitto_strerror(rc));
  }
}

Status MqttBus::Flush(std::chrono::milliseconds timeout) {
  if (OnDispatcher()) return Status::FailedPrecondition("Flush called from a bus handler");
  std::unique_lock lock(pub_mu_);
  const uint64_t target = next_seq_;
  const bool done = pub_cv_.wait_for(lock, timeout, [&] {
    return pending_seqs_.empty() || *pending_seqs_.begin() >= target;
  });
  if (done) return Status::Ok();
  return Status::Unavailable(std::to_string(outstanding_.size()) +
                             " messages not yet acknowledged by the broker" +
                             (connected_ ? "" : " (disconnected)"));
}

Status MqttBus::WaitSubscribed(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  const bool ready = sub_cv_.wait_for(lock, timeout, [&] {
    if (!connected_) return false;
    for (const auto& [filter, id] : table_.Filters())
      if (!acked_filters_.contains(filter) && !refused_filters_.contains(filter) &&
          !unsubscribed_.contains(filter))
        return false;
    return true;
  });
  if (!ready)
    return Status::Unavailable(connected_ ? "subscriptions not acknowledged yet"
                                          : "not connected to the broker");
  if (!refused_filters_.empty())
    return Status::PermissionDenied("broker refused subscription '" + *refused_filters_.begin() +
                                    "'");
  return Status::Ok();
}

void MqttBus::Stop() {
  if (OnDispatcher()) {
    spdlog::error("bus: Stop called from a handler; ignored");
    return;
  }
  std::lock_guard stop_lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  {
    std::lock_guard lock(pub_mu_);
    stopping_ = true;
  }
  pub_cv_.notify_all();
  if (connected_) {
    if (Status st = Flush(kStopFlushTimeout); !st.ok())
      spdlog::warn("bus: stopping with {}", st.message());
  }
  first_connect_.request_stop();
  if (first_connect_.joinable()) first_connect_.join();
  if (mosq_) {
    mosquitto_disconnect(mosq_.get());
    mosquitto_loop_stop(mosq_.get(), false);
  }
  connected_ = false;
  {
    std::lock_guard lock(q_mu_);
    draining_ = true;
  }
  q_not_empty_.notify_all();
  q_handled_.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
  if (!held_.empty()) {
    dropped_ += held_.size();
    spdlog::error("bus: {} received messages had no subscriber by Stop and were dropped",
                  held_.size());
    held_.clear();
  }
}

BusStats MqttBus::Stats() const {
  BusStats s;
  {
    std::lock_guard lock(pub_mu_);
    s.published = published_;
  }
  s.delivered = delivered_;
  s.handler_errors = handler_errors_;
  s.dropped = dropped_;
  s.rejected = rejected_;
  return s;
}

void MqttBus::Run() {
  t_dispatching = this;
  for (;;) {
    Inbound in;
    std::vector<bus_internal::SubscriptionTable::HandlerPtr> handlers;
    {
      std::unique_lock lock(q_mu_);
      q_not_empty_.wait(lock, [&] { return draining_ || !queue_.empty(); });
      if (queue_.empty()) break;  // draining and drained
      in = std::move(queue_.front());
      queue_.pop_front();
      q_not_full_.notify_one();
      handlers = table_.Route(in.message.topic, in.subscription_ids);
      if (handlers.empty()) {
        // Held messages count as handled: waiting for a Subscribe here would
        // block the network thread that must read its SUBACK.
        handled_seq_ = in.seq;
        q_handled_.notify_all();
        held_.push_back(std::move(in));
        if (held_.size() > capacity_) {
          ++dropped_;
          spdlog::error("bus: no handler subscribed for '{}' after {} held messages; dropping it",
                        held_.front().message.topic, capacity_);
          held_.pop_front();
        }
        continue;
      }
    }
    if (bus_internal::Deliver(handlers, in.message, delivered_, handler_errors_) &&
        in.message.qos > 0) {
      // libmosquitto sends the PUBACK when OnMessage returns; cutting the
      // connection first keeps the message with the broker, which sends it
      // again (to this session on reconnect, or to another group member).
      spdlog::warn("bus: a handler could not keep a message on '{}'; reconnecting without "
                   "acknowledging it", in.message.topic);
      ::shutdown(mosquitto_socket(mosq_.get()), SHUT_RDWR);
    }
    {
      std::lock_guard lock(q_mu_);
      handled_seq_ = in.seq;
    }
    q_handled_.notify_all();
  }
}

void MqttBus::OnConnect(struct mosquitto* m, void* self_ptr, int rc, int flags,
                        const mosquitto_property*) {
  auto* self = static_cast<MqttBus*>(self_ptr);
  if (rc != 0) {
    spdlog::error("bus: broker {}:{} refused connection: {}", self->config_.host,
                  self->config_.port,
                  self->config_.protocol == 5 ? mosquitto_reason_string(rc)
                                              : mosquitto_connack_string(rc));
    return;
  }
  if (self->stopping_) {
    mosquitto_disconnect(m);
    return;
  }
  {
    std::lock_guard lock(self->mu_);
    self->connected_ = true;
    self->acked_filters_.clear();
    self->refused_filters_.clear();
    self->pending_subacks_.clear();
    for (const auto& [filter, id] : self->table_.Filters())
      if (!self->unsubscribed_.contains(filter)) self->SendSubscribe(filter, id);
    for (const auto& filter : self->unsubscribed_)
      mosquitto_unsubscribe(m, nullptr, filter.c_str());  // a resumed session still has it
  }
  self->sub_cv_.notify_all();
  spdlog::info("bus: connected to {}:{} as '{}'{}", self->config_.host, self->config_.port,
               self->client_id_, (flags & 1) ? " (session resumed)" : "");
}

void MqttBus::OnDisconnect(struct mosquitto*, void* self_ptr, int rc, const mosquitto_property*) {
  auto* self = static_cast<MqttBus*>(self_ptr);
  {
    // Both locks, so no waiter on either condition misses the change.
    std::scoped_lock lock(self->mu_, self->pub_mu_);
    self->connected_ = false;
  }
  self->pub_cv_.notify_all();
  self->sub_cv_.notify_all();
  if (!self->stopping_)
    spdlog::warn("bus: disconnected from {}:{} ({}); reconnecting", self->config_.host,
                 self->config_.port, mosquitto_strerror(rc));
}

void MqttBus::OnPublish(struct mosquitto*, void* self_ptr, int mid, int reason,
                        const mosquitto_property*) {
  auto* self = static_cast<MqttBus*>(self_ptr);
  {
    std::lock_guard lock(self->pub_mu_);
    auto it = self->outstanding_.find(mid);
    if (it == self->outstanding_.end()) return;  // QoS 0, or published while disconnecting
    self->pending_seqs_.erase(it->second);
    self->outstanding_.erase(it);
  }
  self->pub_cv_.notify_all();
  if (reason >= 0x80) {
    ++self->rejected_;
    spdlog::error("bus: broker refused message {}: {}", mid, mosquitto_reason_string(reason));
  }
}

void MqttBus::OnSubscribe(struct mosquitto*, void* self_ptr, int mid, int count,
                          const int* granted, const mosquitto_property*) {
  auto* self = static_cast<MqttBus*>(self_ptr);
  {
    std::lock_guard lock(self->mu_);
    auto it = self->pending_subacks_.find(mid);
    if (it == self->pending_subacks_.end()) return;
    if (count >= 1 && granted[0] >= 0x80) {
      spdlog::error("bus: broker refused subscription '{}' (code {})", it->second, granted[0]);
      self->refused_filters_.insert(it->second);
    } else {
      self->acked_filters_.insert(it->second);
    }
    self->pending_subacks_.erase(it);
  }
  self->sub_cv_.notify_all();
}

void MqttBus::OnMessage(struct mosquitto*, void* self_ptr, const struct mosquitto_message* msg,
                        const mosquitto_property* props) {
  auto* self = static_cast<MqttBus*>(self_ptr);
  Inbound in;
  in.message.topic = msg->topic;
  in.message.payload.assign(static_cast<const char*>(msg->payload),
                            static_cast<size_t>(msg->payloadlen));
  in.message.qos = msg->qos;
  uint32_t id = 0;
  for (auto* p = mosquitto_property_read_varint(props, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, &id,
                                                false);
       p != nullptr;
       p = mosquitto_property_read_varint(p, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, &id, true))
    in.subscription_ids.push_back(id);
  {
    // Blocking here stalls reading from the broker: backpressure from slow handlers.
    std::unique_lock lock(self->q_mu_);
    self->q_not_full_.wait(lock, [&] { return self->queue_.size() < self->capacity_; });
    const uint64_t seq = in.seq = ++self->received_seq_;
    self->queue_.push_back(std::move(in));
    self->q_not_empty_.notify_one();
    self->q_handled_.wait(lock, [&] { return self->handled_seq_ >= seq || self->draining_; });
  }
}

Status MqttBus::Ready() const {
  if (connected_) return Status::Ok();
  return Status::Unavailable("not connected to the MQTT broker " + config_.host + ":" +
                             std::to_string(config_.port));
}

Status EndMqttSession(const MqttConfig& config, const std::string& client_id,
                      std::chrono::milliseconds timeout) {
  std::call_once(g_lib_init, [] { mosquitto_lib_init(); });
  struct Outcome {
    int connack = -1;  // -1 until the broker answers
  } outcome;
  std::unique_ptr<struct mosquitto, void (*)(struct mosquitto*)> m(
      mosquitto_new(client_id.c_str(), /*clean_session=*/true, &outcome), mosquitto_destroy);
  if (!m) return Status::Internal("mosquitto_new failed for client id '" + client_id + "'");
  // Same protocol and credentials as the sessions' owner; a clean start with no
  // session expiry makes the broker drop the old session now and this one at exit.
  mosquitto_int_option(m.get(), MOSQ_OPT_PROTOCOL_VERSION,
                       config.protocol == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
  mosquitto_connect_v5_callback_set(
      m.get(), [](struct mosquitto*, void* o, int rc, int, const mosquitto_property*) {
        static_cast<Outcome*>(o)->connack = rc;
      });
  if (!config.username.empty())
    mosquitto_username_pw_set(m.get(), config.username.c_str(),
                              config.password.empty() ? nullptr : config.password.c_str());
  if (!config.tls_ca_file.empty() &&
      mosquitto_tls_set(m.get(), config.tls_ca_file.c_str(), nullptr, nullptr, nullptr,
                        nullptr) != MOSQ_ERR_SUCCESS)
    return Status::InvalidArgument("TLS setup with '" + config.tls_ca_file + "' failed");
  const std::string broker = config.host + ":" + std::to_string(config.port);
  int rc = mosquitto_connect(m.get(), config.host.c_str(), config.port,
                             std::max(config.keepalive_s, 5));
  if (rc != MOSQ_ERR_SUCCESS)
    return Status::Unavailable("cannot reach the MQTT broker " + broker + ": " +
                               mosquitto_strerror(rc));
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  while (outcome.connack < 0 && std::chrono::steady_clock::now() < give_up) {
    rc = mosquitto_loop(m.get(), 100, 1);
    if (rc != MOSQ_ERR_SUCCESS)
      return Status::Unavailable("MQTT broker " + broker + " closed the connection: " +
                                 mosquitto_strerror(rc));
  }
  if (outcome.connack < 0)
    return Status::Unavailable("MQTT broker " + broker + " did not answer in time");
  if (outcome.connack != 0)
    return Status::PermissionDenied("MQTT broker " + broker + " refused client id '" +
                                    client_id + "': " +
                                    (config.protocol == 5 ? mosquitto_reason_string(outcome.connack)
                                                          : mosquitto_connack_string(outcome.connack)));
  mosquitto_disconnect(m.get());
  mosquitto_loop(m.get(), 100, 1);  // sends the DISCONNECT
  return Status::Ok();
}

}  // namespace concierge
