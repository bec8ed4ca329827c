// The embedded bus: a bounded queue in memory and one dispatcher thread, so
// handlers see messages in publish order. A message that matches no subscription
// when it is dispatched is dropped (counted in BusStats::dropped), as a broker
// would; subscribe before publishing.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "bus/bus.h"
#include "bus/subscription_table.h"

namespace concierge {

class InProcessBus final : public Bus {
 public:
  // Needs capacity >= 1 (smaller values are raised to 1). Starts the dispatcher.
  explicit InProcessBus(int capacity);
  ~InProcessBus() override;  // Stop()
  InProcessBus(const InProcessBus&) = delete;
  InProcessBus& operator=(const InProcessBus&) = delete;

  // Blocks while the queue is full, except when called from a handler: there the
  // dispatcher would wait for itself, so the message is queued beyond capacity.
  // kFailedPrecondition after Stop.
  Status Publish(const Message& m) override;
  // Publish that gives up with kUnavailable when the queue stays full for `timeout`.
  Status PublishFor(const Message& m, std::chrono::milliseconds timeout);
  // As Bus; the handler sees messages dispatched after this returns.
  Status Subscribe(const std::string& topic_filter, Handler handler) override;
  // As Bus: waits until the handlers of every message queued so far have returned.
  Status Flush(std::chrono::milliseconds timeout) override;
  // As Bus; publishers blocked on a full queue get kFailedPrecondition.
  void Stop() override;
  // As Bus; `dropped` counts messages no subscription matched.
  BusStats Stats() const override;

 private:
  Status Enqueue(const Message& m, std::optional<std::chrono::milliseconds> timeout);
  void Run();
  bool OnDispatcher() const;

  const size_t capacity_;
  bus_internal::SubscriptionTable table_;

  mutable std::mutex mu_;
  std::condition_variable not_empty_, not_full_, done_cv_;
  std::deque<Message> queue_;
  bool stopping_ = false;
  uint64_t enqueued_ = 0;  // messages ever queued
  uint64_t finished_ = 0;  // messages whose handlers all returned

  std::atomic<uint64_t> delivered_{0}, handler_errors_{0}, dropped_{0};

  std::mutex stop_mu_;  // serialises Stop so a second caller waits for the drain
  std::thread dispatcher_;
};

}  // namespace concierge
