#include "notify/outbox.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "notify/http_post.h"

namespace concierge {

OutboxOptions OutboxOptionsFromConfig(const NotifyConfig& config) {
  OutboxOptions o;
  o.max_attempts = config.outbox_max_attempts;
  o.backoff_initial_ms = config.backoff_initial_ms;
  o.backoff_max_ms = config.backoff_max_ms;
  o.lease_ms = config.outbox_lease_s * 1000;
  return o;
}

Outbox::Outbox(OutboxStore& store, Deliver deliver, OutboxOptions options)
    : store_(store), deliver_(std::move(deliver)), options_(options) {}

Outbox::~Outbox() { Stop(); }

Result<Outbox::Enqueued> Outbox::Enqueue(const Notification& n) {
  ASSIGN_OR_RETURN(const OutboxEnqueued queued,
                   store_.Enqueue({n.kind, n.channel, n.payload.dump(), n.idempotency_key},
                                  NowMs()));
  if (queued.inserted) {
    std::lock_guard<std::mutex> lock(mu_);
    ++enqueued_;
    cv_.notify_all();
  }
  return Enqueued{queued.id, queued.inserted};
}

void Outbox::Start() {
  std::lock_guard<std::mutex> stop_lock(stop_mu_);
  std::lock_guard<std::mutex> lock(mu_);
  if (worker_.joinable() || stopping_) return;
  worker_ = std::thread([this] { Run(); });
}

void Outbox::Stop() {
  std::lock_guard<std::mutex> stop_lock(stop_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void Outbox::Wait(int64_t ms, bool wake_on_enqueue) {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t seen = enqueued_;
  cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(ms, 1)),
               [&] { return stopping_ || (wake_on_enqueue && enqueued_ != seen); });
}

void Outbox::Run() {
  auto stopping = [this] {
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_;
  };
  if (Status st = store_.ReleaseClaimsOfDeadWorkers(); !st.ok())
    spdlog::error("outbox: {}", st.ToString());
  while (!stopping()) {
    Result<OutboxClaim> claim = store_.ClaimHead(NowMs(), options_.lease_ms);
    if (!claim.ok()) {
      spdlog::error("outbox: {}", claim.status().ToString());
      Wait(options_.poll_ms, false);
      continue;
    }
    switch (claim->kind) {
      case OutboxClaim::Kind::kIdle: Wait(options_.poll_ms, true); break;
      // Strict id order: a later row never overtakes one waiting for its retry
      // or claimed by another worker, so e.g. an update is never delivered
      // before the post it edits. Another worker may finish the head early.
      case OutboxClaim::Kind::kWait:
        Wait(std::min<int64_t>(claim->wait_until_ms - NowMs(), options_.poll_ms), false);
        break;
      case OutboxClaim::Kind::kClaimed: DeliverClaimed(*claim); break;
    }
  }
}

void Outbox::DeliverClaimed(const OutboxClaim& claim) {
  OutboxItem item;
  item.id = claim.entry.id;
  item.attempt = claim.entry.attempts;
  item.maybe_delivered = claim.maybe_delivered;
  item.notification.kind = claim.entry.kind;
  item.notification.channel = claim.entry.channel;
  item.notification.idempotency_key = claim.entry.idempotency_key;
  item.notification.payload = nlohmann::json::parse(claim.entry.payload, nullptr, false);
  OutboxState state = OutboxState::kSent;
  int64_t next_ms = 0;
  std::string error, receipt;
  if (item.notification.payload.is_discarded()) {
    state = OutboxState::kFailed;
    error = "payload is not valid JSON";
  } else if (Result<std::string> result = deliver_(item); result.ok()) {
    receipt = *result;
  } else {
    error = result.status().ToString();
    const bool retry = IsTransient(result.status()) &&
                       (options_.max_attempts <= 0 || item.attempt < options_.max_attempts);
    state = retry ? OutboxState::kPending : OutboxState::kFailed;
    if (retry)
      next_ms = NowMs() + BackoffMs(item.attempt - 1, options_.backoff_initial_ms,
                                    options_.backoff_max_ms);
    spdlog::warn("outbox: {} '{}' attempt {}: {}{}", item.notification.kind,
                 item.notification.idempotency_key, item.attempt, error,
                 retry ? "; will retry" : "; giving up");
  }
  // Recording the outcome must not be skipped: re-delivering a sent row is
  // exactly the duplicate the outbox exists to prevent.
  while (true) {
    Result<bool> held = store_.Finish(item.id, item.attempt, state, next_ms, receipt, error,
                                      NowMs());
    if (held.ok()) {
      if (!*held)
        spdlog::warn("outbox: row {} attempt {} outlived its lease; another worker took it over",
                     item.id, item.attempt);
      return;
    }
    spdlog::error("outbox: recording row {}: {}", item.id, held.status().ToString());
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    Wait(options_.poll_ms, false);
  }
}

Result<OutboxEntry> Outbox::Find(const std::string& idempotency_key) {
  return store_.Find(idempotency_key);
}

Result<std::map<OutboxState, int64_t>> Outbox::Counts() { return store_.Counts(); }

Result<int64_t> Outbox::DeleteAbout(const std::string& field, const std::string& value) {
  return store_.DeleteAbout(field, value);
}

bool Outbox::WaitUntilIdle(int64_t timeout_ms) {
  const int64_t deadline = NowMs() + timeout_ms;
  while (true) {
    Result<std::map<OutboxState, int64_t>> counts = Counts();
    if (!counts.ok()) return false;
    if (counts->count(OutboxState::kPending) == 0 && counts->count(OutboxState::kSending) == 0)
      return true;
    if (NowMs() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace concierge
