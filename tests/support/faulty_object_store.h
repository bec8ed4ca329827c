// An object store in front of another whose writes can fail (storage trouble)
// or stop after each one until the test steps on (to look at what a crash at
// that point would leave). Reads always pass through.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "store/object_store.h"

namespace concierge::testing {

class FaultyObjectStore final : public ObjectStore {
 public:
  // Needs `inner` to outlive this store.
  explicit FaultyObjectStore(ObjectStore* inner) : inner_(inner) {}

  // Every later Put, Move and Delete fails with `status` without touching the
  // inner store; Status::Ok() lets them through again.
  void FailWrites(Status status);
  // While on, each write that went through then waits for Step(), and no other
  // write starts meanwhile.
  void PauseAfterEachWrite(bool on);
  // Waits up to `timeout` for a write to wait; true if one does.
  bool WaitPaused(std::chrono::milliseconds timeout);
  // Lets the waiting write return.
  void Step();
  // Writes failed by FailWrites so far.
  uint64_t failed_writes() const;

  Status Put(const std::string& key, std::string_view bytes) override;
  Result<std::string> Get(const std::string& key) override { return inner_->Get(key); }
  Status Delete(const std::string& key) override;
  Status Move(const std::string& from, const std::string& to) override;
  Result<bool> Exists(const std::string& key) override { return inner_->Exists(key); }
  Result<std::vector<std::string>> List(const std::string& prefix) override {
    return inner_->List(prefix);
  }

 private:
  // Runs `write` unless writes fail, then pauses if asked to.
  template <typename WriteFn>
  Status Write(WriteFn write);

  ObjectStore* const inner_;
  std::mutex write_mu_;  // held through each write and its pause
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Status failure_;
  uint64_t failed_ = 0;
  bool pause_ = false;
  bool paused_ = false;   // a write waits for Step
  uint64_t steps_ = 0;    // Step calls so far
};

}  // namespace concierge::testing
