#include "store/outbox_store.h"

#include <algorithm>
#include <utility>

#include "store/open_backend.h"

namespace concierge {

namespace {

constexpr const char* kColumns =
    "id, kind, channel, idempotency_key, state, attempts, next_attempt_ms, lease_until_ms, "
    "receipt, last_error, payload";

Result<OutboxEntry> ReadEntry(const Statement& row) {
  OutboxEntry e;
  e.id = row.ColumnInt(0);
  e.kind = row.ColumnText(1);
  e.channel = row.ColumnText(2);
  e.idempotency_key = row.ColumnText(3);
  ASSIGN_OR_RETURN(e.state, ParseOutboxState(row.ColumnText(4)));
  e.attempts = static_cast<int>(row.ColumnInt(5));
  e.next_attempt_ms = row.ColumnInt(6);
  e.lease_until_ms = row.ColumnInt(7);
  e.receipt = row.ColumnText(8);
  e.last_error = row.ColumnText(9);
  e.payload = row.ColumnText(10);
  return e;
}

class SqliteOutboxStore final : public OutboxStore {
 public:
  explicit SqliteOutboxStore(Database* db) : db_(db) {}

  Result<OutboxEnqueued> Enqueue(const OutboxRow& row, int64_t now_ms) override {
    RETURN_IF_ERROR(CheckOutboxRow(row));
    OutboxEnqueued out;
    RETURN_IF_ERROR(db_->Transaction([&](Connection& conn) -> Status {
      ASSIGN_OR_RETURN(Statement insert,
                       conn.Prepare("INSERT INTO notify_outbox (kind, channel, payload, "
                                    "idempotency_key, created_ms, updated_ms) VALUES "
                                    "(?,?,?,?,?,?) ON CONFLICT(idempotency_key) DO NOTHING"));
      insert.BindText(row.kind).BindText(row.channel).BindText(row.payload).BindText(
          row.idempotency_key).BindInt(now_ms).BindInt(now_ms);
      RETURN_IF_ERROR(insert.Run());
      out.inserted = conn.Changes() == 1;
      ASSIGN_OR_RETURN(Statement find,
                       conn.Prepare("SELECT id FROM notify_outbox WHERE idempotency_key = ?"));
      find.BindText(row.idempotency_key);
      ASSIGN_OR_RETURN(bool found, find.Step());
      if (!found) return Status::Internal("outbox: row vanished after insert");
      out.id = find.ColumnInt(0);
      return Status::Ok();
    }));
    return out;
  }

  Result<OutboxClaim> ClaimHead(int64_t now_ms, int64_t lease_ms) override {
    OutboxClaim claim;
    RETURN_IF_ERROR(db_->Transaction([&](Connection& conn) -> Status {
      ASSIGN_OR_RETURN(Statement q, conn.Prepare(std::string("SELECT ") + kColumns +
                                                 " FROM notify_outbox WHERE state IN "
                                                 "('pending', 'sending') ORDER BY id LIMIT 1"));
      ASSIGN_OR_RETURN(bool found, q.Step());
      if (!found) return Status::Ok();
      ASSIGN_OR_RETURN(OutboxEntry head, ReadEntry(q));
      claim = DecideOutboxClaim(std::move(head), now_ms, lease_ms);
      if (claim.kind != OutboxClaim::Kind::kClaimed) return Status::Ok();
      ASSIGN_OR_RETURN(Statement u, conn.Prepare("UPDATE notify_outbox SET state = 'sending', "
                                                 "attempts = ?, lease_until_ms = ?, "
                                                 "updated_ms = ? WHERE id = ?"));
      return u.BindInt(claim.entry.attempts).BindInt(claim.entry.lease_until_ms).BindInt(now_ms)
          .BindInt(claim.entry.id).Run();
    }));
    return claim;
  }

  Result<bool> Finish(int64_t id, int attempt, OutboxState state, int64_t next_attempt_ms,
                      const std::string& receipt, const std::string& error,
                      int64_t now_ms) override {
    return db_->WithConnection([&](Connection& conn) -> Result<bool> {
      ASSIGN_OR_RETURN(Statement u,
                       conn.Prepare("UPDATE notify_outbox SET state = ?, next_attempt_ms = ?, "
                                    "receipt = ?, last_error = ?, lease_until_ms = 0, "
                                    "updated_ms = ? WHERE id = ? AND state = 'sending' AND "
                                    "attempts = ?"));
      u.BindText(ToString(state)).BindInt(next_attempt_ms).BindText(receipt).BindText(error)
          .BindInt(now_ms).BindInt(id).BindInt(attempt);
      RETURN_IF_ERROR(u.Run());
      return conn.Changes() == 1;
    });
  }

  Status ReleaseClaimsOfDeadWorkers() override {
    return db_->WithConnection([&](Connection& conn) {
      return conn.Exec("UPDATE notify_outbox SET lease_until_ms = 0 WHERE state = 'sending'");
    });
  }

  Result<OutboxEntry> Find(const std::string& idempotency_key) override {
    return db_->WithConnection([&](Connection& conn) -> Result<OutboxEntry> {
      ASSIGN_OR_RETURN(Statement q, conn.Prepare(std::string("SELECT ") + kColumns +
                                                 " FROM notify_outbox WHERE idempotency_key = ?"));
      q.BindText(idempotency_key);
      ASSIGN_OR_RETURN(bool found, q.Step());
      if (!found) return Status::NotFound("outbox: no notification with key " + idempotency_key);
      return ReadEntry(q);
    });
  }

  Result<std::map<OutboxState, int64_t>> Counts() override {
    return db_->WithConnection([&](Connection& conn) -> Result<std::map<OutboxState, int64_t>> {
      std::map<OutboxState, int64_t> counts;
      ASSIGN_OR_RETURN(Statement q,
                       conn.Prepare("SELECT state, COUNT(*) FROM notify_outbox GROUP BY state"));
      RETURN_IF_ERROR(q.ForEach([&](const Statement& row) -> Status {
        ASSIGN_OR_RETURN(OutboxState s, ParseOutboxState(row.ColumnText(0)));
        counts[s] = row.ColumnInt(1);
        return Status::Ok();
      }));
      return counts;
    });
  }

  Result<int64_t> DeleteAbout(const std::string& field, const std::string& value) override {
    return db_->WithConnection([&](Connection& conn) -> Result<int64_t> {
      ASSIGN_OR_RETURN(Statement d,
                       conn.Prepare("DELETE FROM notify_outbox WHERE "
                                    "CAST(json_extract(payload, '$.' || ?) AS TEXT) = ?"));
      d.BindText(field).BindText(value);
      RETURN_IF_ERROR(d.Run());
      return conn.Changes();
    });
  }

  Result<std::optional<int64_t>> MaxPayloadInt(const std::string& kind, const std::string& field,
                                               const std::string& value,
                                               const std::string& max_field) override {
    return db_->WithConnection([&](Connection& conn) -> Result<std::optional<int64_t>> {
      ASSIGN_OR_RETURN(Statement q,
                       conn.Prepare("SELECT MAX(CAST(json_extract(payload, '$.' || ?) AS "
                                    "INTEGER)) FROM notify_outbox WHERE kind = ? AND "
                                    "CAST(json_extract(payload, '$.' || ?) AS TEXT) = ?"));
      q.BindText(max_field).BindText(kind).BindText(field).BindText(value);
      ASSIGN_OR_RETURN(const bool row, q.Step());
      if (!row || q.ColumnIsNull(0)) return std::optional<int64_t>();
      return std::optional<int64_t>(q.ColumnInt(0));
    });
  }

  Result<int64_t> DeleteCreatedBefore(int64_t before_ms) override {
    return db_->RowsChangedBy("DELETE FROM notify_outbox WHERE created_ms < ?", before_ms);
  }

 private:
  Database* const db_;
};

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

Result<OutboxState> ParseOutboxState(const std::string& text) {
  for (OutboxState s : {OutboxState::kPending, OutboxState::kSending, OutboxState::kSent,
                        OutboxState::kFailed})
    if (text == ToString(s)) return s;
  return Status::Internal("notify_outbox: unknown state '" + text + "'");
}

Status CheckOutboxRow(const OutboxRow& row) {
  if (row.kind.empty() || row.idempotency_key.empty())
    return Status::InvalidArgument("outbox: a notification needs a kind and an idempotency key");
  return Status::Ok();
}

OutboxClaim DecideOutboxClaim(OutboxEntry head, int64_t now_ms, int64_t lease_ms) {
  OutboxClaim claim;
  const bool sending = head.state == OutboxState::kSending;
  const int64_t due_ms = sending ? head.lease_until_ms : head.next_attempt_ms;
  if (due_ms > now_ms) {
    claim.kind = OutboxClaim::Kind::kWait;
    claim.wait_until_ms = due_ms;
    return claim;
  }
  claim.kind = OutboxClaim::Kind::kClaimed;
  claim.maybe_delivered = sending;
  head.state = OutboxState::kSending;
  head.attempts += 1;
  head.lease_until_ms = now_ms + std::max<int64_t>(lease_ms, 1);
  claim.entry = std::move(head);
  return claim;
}

std::unique_ptr<OutboxStore> NewSqliteOutboxStore(Database* db) {
  return std::make_unique<SqliteOutboxStore>(db);
}

Result<std::unique_ptr<OutboxStore>> OpenOutboxStore(const DatabaseConfig& config,
                                                     Database* sqlite) {
  return OpenBackend<OutboxStore>(config, sqlite, OpenPgOutboxStore, NewSqliteOutboxStore);
}

}  // namespace concierge
