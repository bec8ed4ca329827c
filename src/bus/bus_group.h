// Several buses acting as one. Publishes go to the first member; a
// subscription is made on every member, so with a shared subscription each
// member receives its own share at the same time. `concierge serve` uses this
// for concurrent ingest: an MqttBus connection holds one message in flight
// (acknowledged only after its handler stored it), so N connections give N
// deliveries at once, whose rows then share a commit.
#pragma once

#include <memory>
#include <vector>

#include "bus/bus.h"

namespace concierge {

// Unlike a single bus, a subscribed handler is called from several threads at
// once (one per member): it must be thread-safe.
class BusGroup final : public Bus {
 public:
  // Needs at least one bus.
  explicit BusGroup(std::vector<std::unique_ptr<Bus>> members);
  ~BusGroup() override;  // Stop()

  // Publishes on the first member.
  Status Publish(const Message& m) override;
  // Subscribes on every member; stops at the first error.
  Status Subscribe(const std::string& topic_filter, Handler handler) override;
  // Flushes every member, each within `timeout`.
  Status Flush(std::chrono::milliseconds timeout) override;
  // Stops every member.
  void Stop() override;
  // The members' counters added up.
  BusStats Stats() const override;
  // The first member's trouble, if any.
  Status Ready() const override;

 private:
  std::vector<std::unique_ptr<Bus>> members_;
};

}  // namespace concierge
