#include "notify/outbox.h"

#include <chrono>
#include <utility>

#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "notify/http_post.h"

namespace concierge {

namespace {

Result<OutboxState> ParseState(const std::string& s) {
  if (s == "pending") return OutboxState::kPending;
  if (s == "sending") return OutboxState::kSending;
  if (s == "sent") return OutboxState::kSent;
  if (s == "failed") return OutboxState::kFailed;
  return Status::Internal("notify_outbox: unknown state '" + s + "'");
}

constexpr const char* kColumns =
    "id, kind, channel, idempotency_key, state, attempts, next_attempt_ms, receipt, last_error, "
    "payload";

Result<OutboxEntry> ReadEntry(const Statement& row, std::string* payload) {
  OutboxEntry e;
  e.id = row.ColumnInt(0);
  e.kind = row.ColumnText(1);
  e.channel = row.ColumnText(2);
  e.idempotency_key = row.ColumnText(3);
  ASSIGN_OR_RETURN(e.state, ParseState(row.ColumnText(4)));
  e.attempts = static_cast<int>(row.ColumnInt(5));
  e.next_attempt_ms = row.ColumnInt(6);
  e.receipt = row.ColumnText(7);
  e.last_error = row.ColumnText(8);
  if (payload) *payload = row.ColumnText(9);
  return e;
}

}  // namespace

const char* ToString(OutboxState state) {
  switch (state) {
    case OutboxState::kPending: return "pending";
    case OutboxState::kSending: return "sending";
    case OutboxState::kSent: return "sent";
    case OutboxState::kFailed: return "failed";
  }
  return "pending";
}

OutboxOptions OutboxOptionsFromConfig(const NotifyConfig& config) {
  OutboxOptions o;
  o.max_attempts = config.outbox_max_attempts;
  o.backoff_initial_ms = config.backoff_initial_ms;
  o.backoff_max_ms = config.backoff_max_ms;
  return o;
}

Outbox::Outbox(Database& db, Deliver deliver, OutboxOptions options)
    : db_(db), deliver_(std::move(deliver)), options_(options) {}

Outbox::~Outbox() { Stop(); }

Result<Outbox::Enqueued> Outbox::Enqueue(const Notification& n) {
  if (n.kind.empty() || n.idempotency_key.empty())
    return Status::InvalidArgument("outbox: a notification needs a kind and an idempotency key");
  const int64_t now = NowMs();
  Enqueued out;
  RETURN_IF_ERROR(db_.Transaction([&](Connection& conn) -> Status {
    ASSIGN_OR_RETURN(Statement insert,
                     conn.Prepare("INSERT INTO notify_outbox (kind, channel, payload, "
                                  "idempotency_key, created_ms, updated_ms) VALUES (?,?,?,?,?,?) "
                                  "ON CONFLICT(idempotency_key) DO NOTHING"));
    insert.BindText(n.kind).BindText(n.channel).BindText(n.payload.dump()).BindText(
        n.idempotency_key).BindInt(now).BindInt(now);
    RETURN_IF_ERROR(insert.Run());
    out.inserted = conn.Changes() == 1;
    ASSIGN_OR_RETURN(Statement find,
                     conn.Prepare("SELECT id FROM notify_outbox WHERE idempotency_key = ?"));
    find.BindText(n.idempotency_key);
    ASSIGN_OR_RETURN(bool found, find.Step());
    if (!found) return Status::Internal("outbox: row vanished after insert");
    out.id = find.ColumnInt(0);
    return Status::Ok();
  }));
  if (out.inserted) {
    std::lock_guard<std::mutex> lock(mu_);
    ++enqueued_;
    cv_.notify_all();
  }
  return out;
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

Result<bool> Outbox::LoadHead(Head* head) {
  return db_.WithConnection([&](Connection& conn) -> Result<bool> {
    ASSIGN_OR_RETURN(Statement q, conn.Prepare(std::string("SELECT ") + kColumns +
                                               " FROM notify_outbox WHERE state IN "
                                               "('pending', 'sending') ORDER BY id LIMIT 1"));
    ASSIGN_OR_RETURN(bool found, q.Step());
    if (!found) return false;
    ASSIGN_OR_RETURN(head->entry, ReadEntry(q, &head->payload));
    return true;
  });
}

Status Outbox::MarkSending(int64_t id) {
  return db_.WithConnection([&](Connection& conn) -> Status {
    ASSIGN_OR_RETURN(Statement u, conn.Prepare("UPDATE notify_outbox SET state = 'sending', "
                                               "attempts = attempts + 1, updated_ms = ? "
                                               "WHERE id = ?"));
    u.BindInt(NowMs()).BindInt(id);
    return u.Run();
  });
}

Status Outbox::Finish(int64_t id, OutboxState state, int64_t next_attempt_ms,
                      const std::string& receipt, const std::string& error) {
  return db_.WithConnection([&](Connection& conn) -> Status {
    ASSIGN_OR_RETURN(Statement u, conn.Prepare("UPDATE notify_outbox SET state = ?, "
                                               "next_attempt_ms = ?, receipt = ?, last_error = ?, "
                                               "updated_ms = ? WHERE id = ?"));
    u.BindText(ToString(state)).BindInt(next_attempt_ms).BindText(receipt).BindText(error).BindInt(
        NowMs()).BindInt(id);
    return u.Run();
  });
}

void Outbox::Run() {
  auto stopping = [this] {
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_;
  };
  while (!stopping()) {
    Head head;
    Result<bool> found = LoadHead(&head);
    if (!found.ok()) {
      spdlog::error("outbox: {}", found.status().ToString());
      Wait(options_.poll_ms, false);
      continue;
    }
    if (!*found) {
      Wait(options_.poll_ms, true);
      continue;
    }
    // Strict id order: a later row never overtakes one waiting for its retry,
    // so e.g. an update is never delivered before the post it edits.
    const int64_t due_in = head.entry.next_attempt_ms - NowMs();
    if (due_in > 0) {
      Wait(due_in, false);
      continue;
    }
    OutboxItem item;
    item.id = head.entry.id;
    item.attempt = head.entry.attempts + 1;
    item.maybe_delivered = head.entry.state == OutboxState::kSending;
    item.notification.kind = head.entry.kind;
    item.notification.channel = head.entry.channel;
    item.notification.idempotency_key = head.entry.idempotency_key;
    item.notification.payload = nlohmann::json::parse(head.payload, nullptr, false);
    if (item.notification.payload.is_discarded()) {
      Status st = Finish(item.id, OutboxState::kFailed, 0, "", "payload is not valid JSON");
      if (!st.ok()) spdlog::error("outbox: {}", st.ToString());
      continue;
    }
    if (Status st = MarkSending(item.id); !st.ok()) {
      spdlog::error("outbox: {}", st.ToString());
      Wait(options_.poll_ms, false);
      continue;
    }
    Result<std::string> result = deliver_(item);
    OutboxState state = OutboxState::kSent;
    int64_t next_ms = 0;
    std::string error;
    if (!result.ok()) {
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
    const std::string receipt = result.ok() ? *result : std::string();
    // Recording the outcome must not be skipped: re-delivering a sent row is
    // exactly the duplicate the outbox exists to prevent.
    for (Status st = Finish(item.id, state, next_ms, receipt, error); !st.ok();
         st = Finish(item.id, state, next_ms, receipt, error)) {
      spdlog::error("outbox: recording row {}: {}", item.id, st.ToString());
      if (stopping()) return;
      Wait(options_.poll_ms, false);
    }
  }
}

Result<OutboxEntry> Outbox::Find(const std::string& idempotency_key) {
  return db_.WithConnection([&](Connection& conn) -> Result<OutboxEntry> {
    ASSIGN_OR_RETURN(Statement q, conn.Prepare(std::string("SELECT ") + kColumns +
                                               " FROM notify_outbox WHERE idempotency_key = ?"));
    q.BindText(idempotency_key);
    ASSIGN_OR_RETURN(bool found, q.Step());
    if (!found) return Status::NotFound("outbox: no notification with key " + idempotency_key);
    return ReadEntry(q, nullptr);
  });
}

Result<std::map<OutboxState, int64_t>> Outbox::Counts() {
  return db_.WithConnection([&](Connection& conn) -> Result<std::map<OutboxState, int64_t>> {
    std::map<OutboxState, int64_t> counts;
    ASSIGN_OR_RETURN(Statement q,
                     conn.Prepare("SELECT state, COUNT(*) FROM notify_outbox GROUP BY state"));
    RETURN_IF_ERROR(q.ForEach([&](const Statement& row) -> Status {
      ASSIGN_OR_RETURN(OutboxState s, ParseState(row.ColumnText(0)));
      counts[s] = row.ColumnInt(1);
      return Status::Ok();
    }));
    return counts;
  });
}

Result<int64_t> Outbox::DeleteAbout(const std::string& field, const std::string& value) {
  return db_.WithConnection([&](Connection& conn) -> Result<int64_t> {
    ASSIGN_OR_RETURN(Statement d,
                     conn.Prepare("DELETE FROM notify_outbox WHERE "
                                  "CAST(json_extract(payload, '$.' || ?) AS TEXT) = ?"));
    d.BindText(field).BindText(value);
    RETURN_IF_ERROR(d.Run());
    return conn.Changes();
  });
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
