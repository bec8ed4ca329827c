#include "notify/daily_digest.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>

#include "core/clock.h"

namespace concierge {

Result<std::unique_ptr<DailyDigest>> DailyDigest::Create(const Config& config,
                                                         DailyDigestParts parts) {
  int h = -1, m = -1;
  char tail = 0;
  const std::string& at = config.notify.digest_time;
  if (std::sscanf(at.c_str(), "%d:%d%c", &h, &m, &tail) != 2 || h < 0 || h > 23 || m < 0 ||
      m > 59)
    return Status::InvalidArgument("notify.digest_time '" + at + "' is not HH:MM");
  ASSIGN_OR_RETURN(const std::optional<DailyWindow> office,
                   ParseDailyWindow(config.notify.office_hours));
  if (!parts.now) parts.now = NowMs;
  return std::unique_ptr<DailyDigest>(new DailyDigest(std::move(parts), h * 60 + m, office));
}

DailyDigest::~DailyDigest() { Stop(); }

Result<bool> DailyDigest::Tick() {
  const int64_t now = parts_.now();
  const int64_t day_start = LocalDayStartMs(now);
  // Minutes on the clock, not since midnight: a DST change keeps "18:00" at 18:00.
  const DailyWindow due{minute_, 24 * 60};
  if (!due.Contains(now)) return false;
  const std::string date = LocalDate(now);
  {
    std::lock_guard lock(mu_);
    if (queued_date_ == date) return false;
  }
  ASSIGN_OR_RETURN(const DayReport report,
                   BuildDayReport(*parts_.sightings, date, day_start, now + 1, office_));
  ASSIGN_OR_RETURN(const bool queued,
                   parts_.notifier->EnqueueDigest(date, DigestText(report, parts_.faces)));
  std::lock_guard lock(mu_);
  queued_date_ = date;
  return queued;
}

void DailyDigest::Start(int64_t every_ms) {
  thread_ = std::thread([this, every_ms] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      if (Result<bool> r = Tick(); !r.ok())
        spdlog::warn("digest: not queued yet: {}", r.status().ToString());
      lock.lock();
      cv_.wait_for(lock, std::chrono::milliseconds(every_ms), [this] { return stopping_; });
    }
  });
}

void DailyDigest::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace concierge
