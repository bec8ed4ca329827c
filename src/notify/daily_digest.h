// The daily digest job: at notify.digest_time (local) it builds the day's
// report (arrivals, strangers still untagged, after-hours events) and queues
// it once to Slack through the notifier's outbox, whose key ("slack:digest:
// <date>") keeps it to one post per day across restarts. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/config.h"
#include "core/status.h"
#include "notify/notifier.h"
#include "notify/presence.h"

namespace concierge {

struct DailyDigestParts {
  SightingStore* sightings = nullptr;
  const FaceCollection* faces = nullptr;  // for names; may be null
  Notifier* notifier = nullptr;
  std::function<int64_t()> now;  // epoch ms; empty: the wall clock (tests inject one)
};

class DailyDigest {
 public:
  // Needs config.notify.digest_time "HH:MM" and the parts, which outlive
  // this. kInvalidArgument for a malformed time or office_hours.
  static Result<std::unique_ptr<DailyDigest>> Create(const Config& config,
                                                     DailyDigestParts parts);
  ~DailyDigest();  // Stop()

  // Queues today's digest if its time has come and it was not queued yet;
  // returns whether it queued one now.
  Result<bool> Tick();
  // Runs Tick every `every_ms` on a thread until Stop. Call once.
  void Start(int64_t every_ms = 30000);
  void Stop();

 private:
  DailyDigest(DailyDigestParts parts, int minute, std::optional<DailyWindow> office)
      : parts_(std::move(parts)), minute_(minute), office_(office) {}

  DailyDigestParts parts_;
  const int minute_;  // of the local day
  const std::optional<DailyWindow> office_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::string queued_date_;  // the last day queued by this process
  std::thread thread_;
};

}  // namespace concierge
