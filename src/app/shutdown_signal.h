// The one way every long-running command (`run`, `serve`, `edge`) stops on
// SIGINT or SIGTERM: the signals are taken from normal delivery and watched by
// one thread, so no thread dies of a signal and no handler runs at a random
// point. The first signal wakes Wait(); each later one runs `on_repeat`.
// A restart (POST /api/v1/restart) is the same stop, then StartAgain().
//
// Thread safety: Notify, Wait and RestartRequest::Request may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "core/status.h"

namespace concierge {

class ShutdownSignal {
 public:
  // Blocks SIGINT and SIGTERM in the calling thread and every thread it starts
  // later. Call it before any thread starts.
  static void Block();

  // Needs Block() called first. `repeat_means` says what a second signal does
  // (logged with the first: "again to <repeat_means>"); `on_repeat` does it
  // and may be empty.
  ShutdownSignal(std::string repeat_means, std::function<void()> on_repeat);
  ~ShutdownSignal();
  ShutdownSignal(const ShutdownSignal&) = delete;
  ShutdownSignal& operator=(const ShutdownSignal&) = delete;

  // Wakes Wait(); `why` is logged (empty: silently). True the first time.
  bool Notify(const std::string& why);
  // Blocks until a signal arrived or Notify was called.
  void Wait();

 private:
  void Watch();

  const std::string repeat_means_;
  const std::function<void()> on_repeat_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::atomic<bool> finished_{false};
  std::thread watcher_;  // last: starts once everything above exists
};

// A request to stop and start again. It stops the process the way SIGTERM
// does by sending it SIGTERM: the request can come (from the HTTP API) as soon
// as the server answers, before the ShutdownSignal exists, and a pending
// signal waits for it.
class RestartRequest {
 public:
  // Needs ShutdownSignal::Block() called first. Notes the request and sends
  // SIGTERM to this process; later calls do nothing.
  void Request();
  bool requested() const { return requested_.load(); }

 private:
  std::atomic<bool> requested_{false};
};

// Replaces this process with a new start of the same program with the same
// arguments and environment (/proc/self/exe, /proc/self/cmdline), after
// flushing the logs and stdio. Call it once everything is stopped and closed.
// Returns only when that fails.
Status StartAgain();

}  // namespace concierge
