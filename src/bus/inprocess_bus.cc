#include "bus/inprocess_bus.h"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace concierge {

namespace {
// The bus whose dispatcher runs on this thread, so handlers' calls can be told apart.
thread_local const InProcessBus* t_dispatching = nullptr;
}  // namespace

InProcessBus::InProcessBus(int capacity)
    : capacity_(static_cast<size_t>(std::max(capacity, 1))), dispatcher_([this] { Run(); }) {}

InProcessBus::~InProcessBus() { Stop(); }

bool InProcessBus::OnDispatcher() const { return t_dispatching == this; }

Status InProcessBus::Publish(const Message& m) { return Enqueue(m, std::nullopt); }

Status InProcessBus::PublishFor(const Message& m, std::chrono::milliseconds timeout) {
  return Enqueue(m, timeout);
}

Status InProcessBus::Enqueue(const Message& m, std::optional<std::chrono::milliseconds> timeout) {
  RETURN_IF_ERROR(bus_internal::CheckPublishable(m));
  std::unique_lock lock(mu_);
  if (!OnDispatcher()) {
    auto room = [&] { return stopping_ || queue_.size() < capacity_; };
    if (!timeout) {
      not_full_.wait(lock, room);
    } else if (!not_full_.wait_for(lock, *timeout, room)) {
      return Status::Unavailable("bus queue full (" + std::to_string(capacity_) +
                                 " messages) for " + std::to_string(timeout->count()) + " ms");
    }
  }
  if (stopping_) return Status::FailedPrecondition("bus stopped");
  queue_.push_back(m);
  ++enqueued_;
  not_empty_.notify_one();
  return Status::Ok();
}

Status InProcessBus::Subscribe(const std::string& topic_filter, Handler handler) {
  ASSIGN_OR_RETURN(auto parsed, bus_internal::ParseFilter(topic_filter));
  return table_.Add(topic_filter, parsed, std::move(handler)).status();
}

Status InProcessBus::Flush(std::chrono::milliseconds timeout) {
  if (OnDispatcher()) return Status::FailedPrecondition("Flush called from a bus handler");
  std::unique_lock lock(mu_);
  const uint64_t target = enqueued_;
  if (!done_cv_.wait_for(lock, timeout, [&] { return finished_ >= target; }))
    return Status::Unavailable(std::to_string(target - finished_) +
                               " messages still being delivered");
  return Status::Ok();
}

void InProcessBus::Stop() {
  if (OnDispatcher()) {
    spdlog::error("bus: Stop called from a handler; ignored");
    return;
  }
  std::lock_guard stop_lock(stop_mu_);
  if (!dispatcher_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  not_empty_.notify_all();
  not_full_.notify_all();
  dispatcher_.join();
}

BusStats InProcessBus::Stats() const {
  BusStats s;
  {
    std::lock_guard lock(mu_);
    s.published = enqueued_;
  }
  s.delivered = delivered_;
  s.handler_errors = handler_errors_;
  s.dropped = dropped_;
  return s;
}

void InProcessBus::Run() {
  t_dispatching = this;
  for (;;) {
    Message m;
    {
      std::unique_lock lock(mu_);
      not_empty_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;  // stopping and drained
      m = std::move(queue_.front());
      queue_.pop_front();
    }
    not_full_.notify_one();
    const auto handlers = table_.Route(m.topic, {});
    if (handlers.empty()) {
      ++dropped_;
      spdlog::debug("bus: no subscriber for '{}'", m.topic);
    }
    bus_internal::Deliver(handlers, m, delivered_, handler_errors_);
    {
      std::lock_guard lock(mu_);
      ++finished_;
    }
    done_cv_.notify_all();
  }
}

}  // namespace concierge
