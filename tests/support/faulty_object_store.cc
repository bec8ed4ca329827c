#include "support/faulty_object_store.h"

namespace concierge::testing {

void FaultyObjectStore::FailWrites(Status status) {
  std::lock_guard lock(mu_);
  failure_ = std::move(status);
}

void FaultyObjectStore::PauseAfterEachWrite(bool on) {
  {
    std::lock_guard lock(mu_);
    pause_ = on;
    if (!on) ++steps_;  // releases a waiting write
  }
  cv_.notify_all();
}

bool FaultyObjectStore::WaitPaused(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return paused_; });
}

void FaultyObjectStore::Step() {
  {
    std::lock_guard lock(mu_);
    ++steps_;
  }
  cv_.notify_all();
}

uint64_t FaultyObjectStore::failed_writes() const {
  std::lock_guard lock(mu_);
  return failed_;
}

template <typename WriteFn>
Status FaultyObjectStore::Write(WriteFn write) {
  {
    std::lock_guard lock(mu_);
    if (!failure_.ok()) {
      ++failed_;
      return failure_;
    }
  }
  const Status status = write();
  std::unique_lock lock(mu_);
  if (!pause_) return status;
  // One write at a time waits; others queue behind it.
  cv_.wait(lock, [&] { return !paused_ || !pause_; });
  if (!pause_) return status;
  paused_ = true;
  const uint64_t step = steps_;
  cv_.notify_all();
  cv_.wait(lock, [&] { return steps_ != step; });
  paused_ = false;
  cv_.notify_all();
  return status;
}

Status FaultyObjectStore::Put(const std::string& key, std::string_view bytes) {
  return Write([&] { return inner_->Put(key, bytes); });
}

Status FaultyObjectStore::Delete(const std::string& key) {
  return Write([&] { return inner_->Delete(key); });
}

Status FaultyObjectStore::Move(const std::string& from, const std::string& to) {
  return Write([&] { return inner_->Move(from, to); });
}

}  // namespace concierge::testing
