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
    if (!on) {  // releases a waiting write
      ++steps_;
      paused_ = false;
    }
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
    paused_ = false;  // now, so the next WaitPaused waits for the next write
  }
  cv_.notify_all();
}

uint64_t FaultyObjectStore::failed_writes() const {
  std::lock_guard lock(mu_);
  return failed_;
}

template <typename WriteFn>
Status FaultyObjectStore::Write(WriteFn write) {
  // One write at a time, its pause included: while the test looks at a paused
  // write no other write is under way or can start, so what it sees is what a
  // crash at that point would leave, whatever the other threads are doing.
  std::lock_guard serial(write_mu_);
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
  paused_ = true;
  const uint64_t step = steps_;
  cv_.notify_all();
  cv_.wait(lock, [&] { return steps_ != step; });
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
