#include "pipeline/events.h"

#include <exception>
#include <vector>

#include <spdlog/spdlog.h>

namespace concierge {

namespace {
thread_local const EventStream* t_delivering = nullptr;
}  // namespace

const char* EventName(const Event& event) {
  if (const auto* s = std::get_if<SightingEvent>(&event))
    return s->kind == SightingEvent::Kind::kRecorded ? "sighting.recorded" : "sighting.decided";
  return std::get<VisitEvent>(event).kind == VisitEvent::Kind::kStarted ? "visit.started"
                                                                        : "visit.updated";
}

EventStream::EventStream(size_t capacity)
    : capacity_(capacity < 1 ? 1 : capacity), thread_([this] { Run(); }) {}

EventStream::~EventStream() { Stop(); }

int EventStream::Subscribe(Listener listener) {
  std::lock_guard lock(mu_);
  listeners_[next_id_] = std::move(listener);
  return next_id_++;
}

void EventStream::Unsubscribe(int id) {
  {
    std::lock_guard lock(mu_);
    listeners_.erase(id);
  }
  // Wait out a delivery already running with the old listener set.
  if (t_delivering != this) std::lock_guard wait(deliver_mu_);
}

void EventStream::Publish(Event event) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= capacity_) {
      if (++dropped_ == 1 || dropped_ % 1000 == 0)
        spdlog::warn("events: dropped {} events so far (queue full or stopped)", dropped_);
      return;
    }
    queue_.push_back(std::move(event));
    ++published_;
  }
  cv_.notify_one();
}

void EventStream::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  std::lock_guard stop(stop_mu_);
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

uint64_t EventStream::published() const {
  std::lock_guard lock(mu_);
  return published_;
}

uint64_t EventStream::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void EventStream::Run() {
  t_delivering = this;
  for (;;) {
    std::unique_lock deliver(deliver_mu_, std::defer_lock);
    Event event;
    std::vector<Listener> listeners;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      event = std::move(queue_.front());
      queue_.pop_front();
      for (const auto& [id, l] : listeners_) listeners.push_back(l);
      deliver.lock();  // before releasing mu_, so Unsubscribe sees this delivery
    }
    for (const auto& listener : listeners) {
      try {
        listener(event);
      } catch (const std::exception& e) {
        spdlog::error("events: a listener threw on {}: {}", EventName(event), e.what());
      }
    }
  }
}

}  // namespace concierge
