// The rows of the notification outbox (table notify_outbox): one interface,
// a SQLite and a PostgreSQL backend. The delivery loop is notify/Outbox; this
// is only what it stores and how workers take turns.
//
// Claims: the open row (pending or sending) with the lowest id is the head.
// A worker claims the head when it is due, which marks it 'sending', counts
// the attempt and gives the worker a lease until now + lease_ms. While the
// lease runs no other worker touches the row or any later one (strict id
// order, so an update never overtakes the post it edits). A worker that dies
// mid-delivery leaves its claim to whoever claims the head after the lease ran
// out; that claim is flagged maybe_delivered. The attempt number is the claim's
// fencing token: Finish records an outcome only for the claim still held, so a
// worker that outlived its lease cannot overwrite a newer claim's outcome.
//
// Thread safety: every method may be called from any thread, and several
// processes may share one PostgreSQL outbox.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/config.h"
#include "core/status.h"
#include "store/database.h"

namespace concierge {

enum class OutboxState { kPending, kSending, kSent, kFailed };

// "pending", "sending", "sent" or "failed".
const char* ToString(OutboxState state);
// The inverse of ToString; kInternal for anything else (it comes from the table).
Result<OutboxState> ParseOutboxState(const std::string& text);

// A row as stored.
struct OutboxEntry {
  int64_t id = 0;
  std::string kind;
  std::string channel;
  std::string idempotency_key;
  OutboxState state = OutboxState::kPending;
  int attempts = 0;
  int64_t next_attempt_ms = 0;
  int64_t lease_until_ms = 0;  // while 'sending': when the claim may be taken over
  std::string receipt;         // what delivery returned, e.g. "<channel>:<ts>"
  std::string last_error;
  std::string payload;         // JSON text, as enqueued
};

// What is enqueued: the payload is JSON text.
struct OutboxRow {
  std::string kind;
  std::string channel;
  std::string payload;
  std::string idempotency_key;
};

struct OutboxEnqueued {
  int64_t id = 0;
  bool inserted = false;  // false: the key was already there; nothing changed
};

// What ClaimHead found.
struct OutboxClaim {
  enum class Kind {
    kIdle,     // no open row
    kWait,     // the head is not due (retry backoff) or is claimed: try again at wait_until_ms
    kClaimed,  // the head is this worker's until entry.lease_until_ms
  };
  Kind kind = Kind::kIdle;
  int64_t wait_until_ms = 0;
  OutboxEntry entry;  // kClaimed: as stored after the claim (attempts counts this one)
  bool maybe_delivered = false;  // an earlier claim was cut off mid-delivery
};

class OutboxStore {
 public:
  virtual ~OutboxStore() = default;

  // Needs a kind, an idempotency key and a payload. Durable once it returns
  // OK. The same key again is a no-op that returns the first row's id.
  virtual Result<OutboxEnqueued> Enqueue(const OutboxRow& row, int64_t now_ms) = 0;
  // Claims the head as described above, atomically: two workers never both
  // get kClaimed for one attempt. Needs lease_ms > 0.
  virtual Result<OutboxClaim> ClaimHead(int64_t now_ms, int64_t lease_ms) = 0;
  // Records the outcome of claim `attempt` of row `id` (state pending with
  // next_attempt_ms for a retry, or sent, or failed). Returns false, changing
  // nothing, when that claim is no longer held (its lease ran out and another
  // worker claimed the row).
  virtual Result<bool> Finish(int64_t id, int attempt, OutboxState state, int64_t next_attempt_ms,
                              const std::string& receipt, const std::string& error,
                              int64_t now_ms) = 0;
  // Makes every claim claimable at once. SQLite: a database has one worker, so
  // the claims found when it starts are a dead process's. PostgreSQL: a claim
  // may be a live server's, so nothing changes; a dead server's claims are
  // taken over when their lease runs out.
  virtual Status ReleaseClaimsOfDeadWorkers() = 0;

  // The row for a key; kNotFound when absent.
  virtual Result<OutboxEntry> Find(const std::string& idempotency_key) = 0;
  // Rows per state (states without rows are absent).
  virtual Result<std::map<OutboxState, int64_t>> Counts() = 0;
  // Deletes every row whose JSON payload has top-level `field` equal to
  // `value` (numbers compare by their decimal text). Returns how many went.
  virtual Result<int64_t> DeleteAbout(const std::string& field, const std::string& value) = 0;
  // The largest integer payload field `max_field` among rows of `kind` whose
  // payload field `field` equals `value`; nullopt when there is none.
  virtual Result<std::optional<int64_t>> MaxPayloadInt(const std::string& kind,
                                                       const std::string& field,
                                                       const std::string& value,
                                                       const std::string& max_field) = 0;
  // Deletes rows created before `before_ms` (retention); returns how many.
  virtual Result<int64_t> DeleteCreatedBefore(int64_t before_ms) = 0;
};

// For the backends, so both decide alike. kInvalidArgument without a kind or key.
Status CheckOutboxRow(const OutboxRow& row);
// The claim a worker gets on the open row `head` at now_ms (see the top).
OutboxClaim DecideOutboxClaim(OutboxEntry head, int64_t now_ms, int64_t lease_ms);

// The SQLite backend; needs an open database (migrations applied) that
// outlives it.
std::unique_ptr<OutboxStore> NewSqliteOutboxStore(Database* db);

// The PostgreSQL backend: connects and applies its migrations (component
// "outbox"), exactly once even when several servers start together. Errors as
// OpenPgSightingStore.
Result<std::unique_ptr<OutboxStore>> OpenPgOutboxStore(const std::string& url);

// The backend database.kind names; `sqlite` is used (and needed) for "sqlite".
Result<std::unique_ptr<OutboxStore>> OpenOutboxStore(const DatabaseConfig& config,
                                                     Database* sqlite);

}  // namespace concierge
