// The notifier interface (Frigate style): each channel (Slack, webhook, ...)
// is a Communicator; a Dispatcher fans one Notification out to all of them.
// Inbound interactions (Slack buttons) arrive over HTTP, not through here.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace concierge {

// One thing to tell people about, e.g. a greeting or a "who is this?".
struct Notification {
  std::string kind;             // "greeting", "unknown_face", ...
  std::string channel;          // where, within a communicator (Slack channel id); may be empty
  std::string idempotency_key;  // stable per logical notification, e.g. "greet:<visit id>"
  nlohmann::json payload = nlohmann::json::object();  // communicator-specific content
};

// Failures a later attempt may cure (rate limit, outage, timeout) are
// kUnavailable; every other non-OK code is permanent for that notification.
inline bool IsTransient(const Status& status) {
  return status.code() == Status::Code::kUnavailable;
}

class Communicator {
 public:
  virtual ~Communicator() = default;
  // Stable short name, e.g. "slack" or "webhook"; used in logs and outbox channels.
  virtual std::string name() const = 0;
  // Needs a notification this communicator understands. Delivers it once and
  // returns a receipt (e.g. the Slack message ts; may be empty). Errors follow
  // IsTransient. May block while retrying; Stop() cuts that short.
  virtual Result<std::string> Publish(const Notification& notification) = 0;
  // Makes current and later Publish calls give up promptly (kUnavailable). Idempotent.
  virtual void Stop() = 0;
};

// Fans notifications out to every added communicator, in the order added.
class Dispatcher {
 public:
  struct Outcome {
    std::string communicator;
    Result<std::string> receipt;
  };

  // Needs a non-null communicator, added before the first Publish (no locking).
  void Add(std::shared_ptr<Communicator> communicator) {
    communicators_.push_back(std::move(communicator));
  }
  // Publishes to each communicator; one failing never keeps the others from
  // being tried. Returns one outcome per communicator.
  std::vector<Outcome> Publish(const Notification& notification) {
    std::vector<Outcome> outcomes;
    for (const auto& c : communicators_) outcomes.push_back({c->name(), c->Publish(notification)});
    return outcomes;
  }
  // Publishes to the communicator called `name` only; kNotFound (permanent)
  // when there is none, e.g. a row queued for a channel since switched off.
  Result<std::string> PublishTo(const std::string& name, const Notification& notification) {
    for (const auto& c : communicators_)
      if (c->name() == name) return c->Publish(notification);
    return Status::NotFound("no '" + name + "' communicator for " + notification.kind);
  }
  // Stops every communicator. Idempotent.
  void Stop() {
    for (const auto& c : communicators_) c->Stop();
  }

 private:
  std::vector<std::shared_ptr<Communicator>> communicators_;
};

}  // namespace concierge
