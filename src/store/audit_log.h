// The audit log (table audit_log, migration 5): who did what to what, when.
// Every tag, ignore, "not me", forget, login and settings change is recorded
// here; entries are never edited, only listed (newest first) and aged out by
// retention.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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

// Thread-safe (the Database serialises statements).
class AuditLog {
 public:
  // Needs an open database (migration 5 applied) that outlives this.
  explicit AuditLog(Database* db);

  // Needs a non-empty actor and action; detail must be a JSON object (or
  // null, stored as {}). Durable once it returns OK; at_ms is now.
  Status Record(const std::string& actor, const std::string& action, const std::string& target,
                const nlohmann::json& detail = nlohmann::json::object());
  // The same inside a caller's transaction, so an action and its audit entry
  // commit together.
  static Status RecordIn(Connection& conn, const std::string& actor, const std::string& action,
                         const std::string& target, const nlohmann::json& detail);

  // Needs 1 <= limit <= 500 and a cursor that is empty (start at the newest)
  // or a next_cursor from an earlier page; else kInvalidArgument.
  Result<AuditPage> List(int limit, const std::string& cursor = "");

 private:
  Database* const db_;
};

}  // namespace concierge
