// The audit log (table audit_log): who did what to what, when. Every tag,
// ignore, "not me", forget, login and settings change is recorded here;
// entries are never edited, only listed (newest first) and aged out by
// retention. One interface, a SQLite and a PostgreSQL backend.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/status.h"
#include "store/database.h"

namespace concierge {

struct AuditEntry {
  int64_t id = 0;
  int64_t at_ms = 0;
  std::string actor;   // "slack:U123", "user:alice", "token:3", "cli"
  std::string action;  // "tag", "ignore", "not_me", "forget", "login", "settings", ...
  std::string target;  // e.g. "cluster:12", "person:alice", "sighting:<id>"; may be empty
  nlohmann::json detail = nlohmann::json::object();
};

struct AuditPage {
  std::vector<AuditEntry> items;  // newest first
  std::string next_cursor;        // empty when there is nothing older
};

// Thread-safe.
class AuditLog {
 public:
  virtual ~AuditLog() = default;

  // Needs a non-empty actor and action; detail must be a JSON object (or
  // null, stored as {}). Durable once it returns OK; at_ms is now.
  virtual Status Record(const std::string& actor, const std::string& action,
                        const std::string& target,
                        const nlohmann::json& detail = nlohmann::json::object()) = 0;

  // Needs 1 <= limit <= 500 and a cursor that is empty (start at the newest)
  // or a next_cursor from an earlier page; else kInvalidArgument.
  virtual Result<AuditPage> List(int limit, const std::string& cursor = "") = 0;

  // Deletes entries made before `before_ms` (retention); returns how many.
  virtual Result<int64_t> DeleteBefore(int64_t before_ms) = 0;

 protected:
  // For the backends, so both check alike.
  static Status CheckEntry(const std::string& actor, const std::string& action,
                           const nlohmann::json& detail);
  // The id to list below: the cursor's, or the largest for an empty one.
  static Result<int64_t> ParseCursor(const std::string& cursor);
  static Status CheckLimit(int limit);
  // Trims a page read with limit + 1 rows and sets its next cursor.
  static void FinishPage(int limit, AuditPage* page);
  // The stored detail text as JSON ({} when unreadable).
  static nlohmann::json ParseDetail(const std::string& text);
};

// The SQLite backend; needs an open database (migrations applied) that
// outlives it.
std::unique_ptr<AuditLog> NewSqliteAuditLog(Database* db);
// The PostgreSQL backend: connects and applies its migrations (component
// "audit"). Errors as OpenPgSightingStore.
Result<std::unique_ptr<AuditLog>> OpenPgAuditLog(const std::string& url);
// The backend database.kind names; `sqlite` is used (and needed) for "sqlite".
Result<std::unique_ptr<AuditLog>> OpenAuditLog(const DatabaseConfig& config, Database* sqlite);

}  // namespace concierge
