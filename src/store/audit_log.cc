#include "store/audit_log.h"

#include <charconv>

#include "core/clock.h"
#include "store/open_backend.h"

namespace concierge {

namespace {

constexpr int kMaxPage = 500;

class SqliteAuditLog final : public AuditLog {
 public:
  explicit SqliteAuditLog(Database* db) : db_(db) {}

  Status Record(const std::string& actor, const std::string& action, const std::string& target,
                const nlohmann::json& detail) override {
    RETURN_IF_ERROR(CheckEntry(actor, action, detail));
    return db_->WithConnection([&](Connection& conn) -> Status {
      ASSIGN_OR_RETURN(Statement insert,
                       conn.Prepare("INSERT INTO audit_log (at_ms, actor, action, target, "
                                    "detail) VALUES (?, ?, ?, ?, ?)"));
      insert.BindInt(NowMs()).BindText(actor).BindText(action).BindText(target).BindText(
          detail.is_null() ? "{}" : detail.dump());
      return insert.Run();
    });
  }

  Result<AuditPage> List(int limit, const std::string& cursor) override {
    RETURN_IF_ERROR(CheckLimit(limit));
    ASSIGN_OR_RETURN(const int64_t before, ParseCursor(cursor));
    AuditPage page;
    RETURN_IF_ERROR(db_->ReadTransaction([&](Connection& conn) -> Status {
      ASSIGN_OR_RETURN(Statement select,
                       conn.Prepare("SELECT id, at_ms, actor, action, target, detail FROM "
                                    "audit_log WHERE id < ? ORDER BY id DESC LIMIT ?"));
      select.BindInt(before).BindInt(limit + 1);
      return select.ForEach([&](const Statement& row) {
        page.items.push_back({row.ColumnInt(0), row.ColumnInt(1), row.ColumnText(2),
                              row.ColumnText(3), row.ColumnText(4),
                              ParseDetail(row.ColumnText(5))});
        return Status::Ok();
      });
    }));
    FinishPage(limit, &page);
    return page;
  }

  Result<int64_t> DeleteBefore(int64_t before_ms) override {
    return db_->RowsChangedBy("DELETE FROM audit_log WHERE at_ms < ?", before_ms);
  }

 private:
  Database* const db_;
};

}  // namespace

Status AuditLog::CheckEntry(const std::string& actor, const std::string& action,
                            const nlohmann::json& detail) {
  if (actor.empty() || action.empty())
    return Status::InvalidArgument("an audit entry needs an actor and an action");
  if (!detail.is_null() && !detail.is_object())
    return Status::InvalidArgument("audit detail must be a JSON object");
  return Status::Ok();
}

// The cursor is the id of the last entry of the previous page, in decimal.
Result<int64_t> AuditLog::ParseCursor(const std::string& cursor) {
  if (cursor.empty()) return INT64_MAX;
  int64_t id = 0;
  const auto [end, ec] = std::from_chars(cursor.data(), cursor.data() + cursor.size(), id);
  if (ec != std::errc() || end != cursor.data() + cursor.size() || id <= 0)
    return Status::InvalidArgument("bad audit cursor '" + cursor + "'");
  return id;
}

Status AuditLog::CheckLimit(int limit) {
  if (limit < 1 || limit > kMaxPage)
    return Status::InvalidArgument("limit must be 1.." + std::to_string(kMaxPage));
  return Status::Ok();
}

void AuditLog::FinishPage(int limit, AuditPage* page) {
  if (static_cast<int>(page->items.size()) <= limit) return;
  page->items.pop_back();
  page->next_cursor = std::to_string(page->items.back().id);
}

nlohmann::json AuditLog::ParseDetail(const std::string& text) {
  nlohmann::json detail = nlohmann::json::parse(text, nullptr, false);
  return detail.is_discarded() ? nlohmann::json::object() : detail;
}

std::unique_ptr<AuditLog> NewSqliteAuditLog(Database* db) {
  return std::make_unique<SqliteAuditLog>(db);
}

Result<std::unique_ptr<AuditLog>> OpenAuditLog(const DatabaseConfig& config, Database* sqlite) {
  return OpenBackend<AuditLog>(config, sqlite, OpenPgAuditLog, NewSqliteAuditLog);
}

}  // namespace concierge
