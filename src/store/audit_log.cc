#include "store/audit_log.h"

#include <charconv>

#include "core/clock.h"

namespace concierge {

namespace {

constexpr int kMaxPage = 500;

// The cursor is the id of the last entry of the previous page, in decimal.
Result<int64_t> ParseCursor(const std::string& cursor) {
  if (cursor.empty()) return INT64_MAX;
  int64_t id = 0;
  const auto [end, ec] = std::from_chars(cursor.data(), cursor.data() + cursor.size(), id);
  if (ec != std::errc() || end != cursor.data() + cursor.size() || id <= 0)
    return Status::InvalidArgument("bad audit cursor '" + cursor + "'");
  return id;
}

}  // namespace

AuditLog::AuditLog(Database* db) : db_(db) {}

Status AuditLog::RecordIn(Connection& conn, const std::string& actor, const std::string& action,
                          const std::string& target, const nlohmann::json& detail) {
  if (actor.empty() || action.empty())
    return Status::InvalidArgument("an audit entry needs an actor and an action");
  if (!detail.is_null() && !detail.is_object())
    return Status::InvalidArgument("audit detail must be a JSON object");
  ASSIGN_OR_RETURN(Statement insert,
                   conn.Prepare("INSERT INTO audit_log (at_ms, actor, action, target, detail) "
                                "VALUES (?, ?, ?, ?, ?)"));
  insert.BindInt(NowMs()).BindText(actor).BindText(action).BindText(target).BindText(
      detail.is_null() ? "{}" : detail.dump());
  return insert.Run();
}

Status AuditLog::Record(const std::string& actor, const std::string& action,
                        const std::string& target, const nlohmann::json& detail) {
  return db_->WithConnection(
      [&](Connection& conn) { return RecordIn(conn, actor, action, target, detail); });
}

Result<AuditPage> AuditLog::List(int limit, const std::string& cursor) {
  if (limit < 1 || limit > kMaxPage)
    return Status::InvalidArgument("limit must be 1.." + std::to_string(kMaxPage));
  ASSIGN_OR_RETURN(const int64_t before, ParseCursor(cursor));
  AuditPage page;
  RETURN_IF_ERROR(db_->ReadTransaction([&](Connection& conn) -> Status {
    ASSIGN_OR_RETURN(Statement select,
                     conn.Prepare("SELECT id, at_ms, actor, action, target, detail FROM audit_log "
                                  "WHERE id < ? ORDER BY id DESC LIMIT ?"));
    select.BindInt(before).BindInt(limit + 1);
    return select.ForEach([&](const Statement& row) {
      AuditEntry e;
      e.id = row.ColumnInt(0);
      e.at_ms = row.ColumnInt(1);
      e.actor = row.ColumnText(2);
      e.action = row.ColumnText(3);
      e.target = row.ColumnText(4);
      e.detail = nlohmann::json::parse(row.ColumnText(5), nullptr, false);
      if (e.detail.is_discarded()) e.detail = nlohmann::json::object();
      page.items.push_back(std::move(e));
      return Status::Ok();
    });
  }));
  if (static_cast<int>(page.items.size()) > limit) {
    page.items.pop_back();
    page.next_cursor = std::to_string(page.items.back().id);
  }
  return page;
}

}  // namespace concierge
