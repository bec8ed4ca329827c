// The durable notification outbox. Every notification is written to an
// OutboxStore first; one worker thread per Outbox claims the head row, delivers
// it through a delivery function and records the outcome, so an outage or a
// restart loses nothing and an idempotency key is delivered at most once as
// far as the database can know.
//
// Crash window, honestly: a row is claimed ('sending', committed) before the
// delivery call and marked 'sent' with its receipt (e.g. the Slack ts) right
// after. If the process dies between the receiver accepting the message and
// that second commit, the row is delivered again (on restart with SQLite; by
// any server once the claim's lease ran out with PostgreSQL) with
// OutboxItem::maybe_delivered set, and only the delivery function can avoid a
// duplicate (e.g. look for the key in the Slack message metadata). Everything
// else (crash before the call, transient failure, restart with a full outbox,
// enqueueing a key twice, several servers draining one PostgreSQL outbox)
// never duplicates.
//
// Several Outbox workers may share a PostgreSQL outbox (they take turns on the
// head row); a SQLite outbox has one worker.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "core/config.h"
#include "core/status.h"
#include "notify/communicator.h"
#include "store/outbox_store.h"

namespace concierge {

// What the delivery function gets.
struct OutboxItem {
  int64_t id = 0;
  Notification notification;
  int attempt = 1;               // 1 for the first delivery of this row
  bool maybe_delivered = false;  // an earlier attempt was cut off by a crash mid-delivery
};

struct OutboxOptions {
  int max_attempts = 30;           // then failed; <= 0 retries transient failures forever
  int backoff_initial_ms = 1000;   // after the first transient failure; doubles
  int backoff_max_ms = 300000;
  int poll_ms = 2000;              // re-read the table this often when idle
  int lease_ms = 60000;            // a claim's lease: longer than any one delivery takes
};

// Options from the notify section of the config.
OutboxOptions OutboxOptionsFromConfig(const NotifyConfig& config);

class Outbox {
 public:
  // Returns a receipt, or a Status judged by IsTransient(): transient failures
  // are rescheduled with backoff, others mark the row failed.
  using Deliver = std::function<Result<std::string>(const OutboxItem&)>;

  // Needs a store that outlives this and a delivery function. Does not start
  // the worker.
  Outbox(OutboxStore& store, Deliver deliver, OutboxOptions options = {});
  ~Outbox();  // Stop()
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  struct Enqueued {
    int64_t id = 0;
    bool inserted = false;  // false: the key was already there; nothing changed
  };
  // Needs a kind, an idempotency key and a JSON payload. Durable once it
  // returns OK. The same key again is a no-op that returns the first row's id.
  Result<Enqueued> Enqueue(const Notification& notification);

  // Starts the worker thread. Rows go out in strict id order: one waiting for
  // its retry holds back later rows (an update never overtakes its post).
  // Rows left 'sending' by a dead worker are retried with maybe_delivered
  // (see OutboxStore::ReleaseClaimsOfDeadWorkers). Calling it twice is a no-op.
  void Start();
  // Lets the current delivery finish (callers should Stop their communicators
  // first to cut retries short), then joins the worker. Idempotent.
  void Stop();

  // The row for a key; kNotFound when absent.
  Result<OutboxEntry> Find(const std::string& idempotency_key);
  // Rows per state.
  Result<std::map<OutboxState, int64_t>> Counts();
  // Deletes every row whose JSON payload has `field` (a top-level key) equal
  // to `value`, e.g. ("person_id", "alice") when a person is forgotten.
  // Returns how many rows went.
  Result<int64_t> DeleteAbout(const std::string& field, const std::string& value);
  // Waits until no row is pending or sending; false on timeout or error.
  bool WaitUntilIdle(int64_t timeout_ms);

 private:
  void Run();
  // Delivers one claimed row and records the outcome.
  void DeliverClaimed(const OutboxClaim& claim);
  // Sleeps up to ms unless stopped or (when wake_on_enqueue) a row is added.
  void Wait(int64_t ms, bool wake_on_enqueue);

  OutboxStore& store_;
  Deliver deliver_;
  OutboxOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  uint64_t enqueued_ = 0;  // bumps wake the idle worker
  std::mutex stop_mu_;
  std::thread worker_;
};

}  // namespace concierge
