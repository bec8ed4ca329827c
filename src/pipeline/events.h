// The in-process event stream: what the pipeline recorded and decided, for
// everything that reacts to it (notify, web UI, metrics). A small Communicator:
// publish, subscribe, stop. Events are a live feed, not the record: the
// SightingStore is, so a listener that must not miss anything reads it too.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <variant>

#include "store/sighting_store.h"

namespace concierge {

struct SightingEvent {
  enum class Kind { kRecorded, kDecided };
  Kind kind = Kind::kRecorded;
  SightingRecord sighting;  // as stored
};

struct VisitEvent {
  enum class Kind { kStarted, kUpdated };
  Kind kind = Kind::kStarted;
  VisitRecord visit;        // as stored after the sighting joined it
  std::string sighting_id;  // the sighting that started or extended it
};

using Event = std::variant<SightingEvent, VisitEvent>;

// "sighting.recorded", "sighting.decided", "visit.started" or "visit.updated".
const char* EventName(const Event& event);

// Listeners run one at a time, in publish order, on the stream's own thread,
// so a slow listener never stalls the pipeline; it only delays other listeners.
class EventStream {
 public:
  using Listener = std::function<void(const Event&)>;

  // Needs capacity >= 1: events waiting beyond it are dropped (and counted)
  // rather than blocking the publisher. Starts the delivery thread.
  explicit EventStream(size_t capacity = 4096);
  ~EventStream();  // Stop()
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  // Needs a callable. Every event published after this returns reaches it.
  // Returns an id for Unsubscribe.
  int Subscribe(Listener listener);
  // Needs an id from Subscribe; once this returns the listener is never called
  // again (unless called from that listener, which finishes its current call).
  void Unsubscribe(int id);
  // Never blocks. Queues the event for every listener, or drops it when the
  // queue is full or the stream stopped.
  void Publish(Event event);
  // Delivers every queued event, then stops; later events are dropped. Idempotent.
  void Stop();

  uint64_t published() const;  // events queued
  uint64_t dropped() const;    // events refused (full or stopped)

 private:
  void Run();

  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> queue_;
  std::map<int, Listener> listeners_;
  int next_id_ = 1;
  bool stopping_ = false;
  uint64_t published_ = 0, dropped_ = 0;
  std::mutex stop_mu_;     // serialises Stop so a second caller waits for the drain
  std::mutex deliver_mu_;  // held while listeners run, so Unsubscribe can wait them out
  std::thread thread_;
};

}  // namespace concierge
