// The metadata database: one SQLite connection with versioned migrations, plus
// small RAII helpers so the rest of the store never hand-rolls sqlite3 calls.
//
// Thread safety: a Database holds one connection behind a mutex. Statements
// run only inside WithConnection() or Transaction(), which hold that mutex, so
// a transaction is never interleaved with another thread's statements.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace concierge {

// One prepared statement; finalized on destruction. Bind* calls fill the
// parameters left to right; a bind failure is remembered and reported by the
// next Step/Run/ForEach, so call sites can chain binds without checking each.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Bind the next parameter. Text and blob bytes are copied by SQLite.
  Statement& BindInt(int64_t value);
  Statement& BindDouble(double value);
  Statement& BindText(std::string_view value);
  Statement& BindBlob(const void* data, size_t size);
  Statement& BindNull();

  // Advances one row: true when a row is readable through Column*, false when done.
  Result<bool> Step();
  // Steps to completion, ignoring any rows.
  Status Run();
  // Steps to completion calling `row` on each row; stops at the first error.
  Status ForEach(const std::function<Status(const Statement&)>& row);
  // Rewinds for another execution and clears the bindings and any bind error.
  void Reset();

  // Column accessors; valid only while Step() has just returned true. 0-based.
  int64_t ColumnInt(int column) const;
  double ColumnDouble(int column) const;
  std::string ColumnText(int column) const;
  // The blob's bytes; valid until the next Step/Reset.
  std::string_view ColumnBlob(int column) const;
  bool ColumnIsNull(int column) const;

 private:
  friend class Connection;
  Statement(sqlite3_stmt* stmt, const std::string* db_path);

  sqlite3_stmt* stmt_ = nullptr;
  const std::string* db_path_ = nullptr;  // for error messages; owned by Database
  int next_param_ = 1;
  Status bind_error_;
};

// The connection while its Database's mutex is held; only handed out by
// Database::WithConnection/Transaction and valid only inside that call.
class Connection {
 public:
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Compiles one statement. Errors carry the SQL's failure reason.
  Result<Statement> Prepare(std::string_view sql);
  // Runs one or more parameterless statements (DDL, pragmas).
  Status Exec(const std::string& sql);
  // Rowid of the last successful INSERT on this connection.
  int64_t LastInsertId() const;
  // Rows changed by the last INSERT/UPDATE/DELETE.
  int64_t Changes() const;

 private:
  friend class Database;
  Connection(sqlite3* db, const std::string* path) : db_(db), path_(path) {}
  sqlite3* db_;
  const std::string* path_;
};

class Database {
 public:
  enum class Access { kReadWrite, kReadOnly };

  // Needs a file path, or ":memory:" for a private in-memory database (no WAL;
  // gone on close). Read-write: creates parent directories and the file,
  // turns on WAL and foreign keys, and applies every pending migration (each in
  // its own transaction, exactly once, safe against concurrent openers).
  // Read-only: never writes; fails if migrations are pending. A read-only or
  // locked database yields kIoError naming the path ("database is read-only",
  // "database is locked"); a schema newer than this build yields
  // kFailedPrecondition.
  static Result<std::unique_ptr<Database>> OpenSqlite(const std::string& path,
                                                      int busy_timeout_ms,
                                                      Access access = Access::kReadWrite);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs `fn(Connection&)` with exclusive use of the connection (autocommit:
  // each statement is its own transaction) and returns what fn returns.
  template <typename Fn>
  auto WithConnection(Fn&& fn) {
    std::lock_guard<std::mutex> lock(mu_);
    return fn(conn_);
  }

  // Runs `sql`, one statement with one integer parameter, as WithConnection
  // does; returns the rows it changed (e.g. a retention DELETE ... WHERE t < ?).
  Result<int64_t> RowsChangedBy(std::string_view sql, int64_t param);

  // Runs fn inside BEGIN IMMEDIATE..COMMIT. Guarantees all or nothing: if fn
  // or COMMIT fails, everything fn wrote is rolled back and the error returned.
  // fn must not call back into this Database (the mutex is held).
  Status Transaction(const std::function<Status(Connection&)>& fn);
  // Runs fn inside a deferred (read) transaction so every read sees one
  // snapshot; works on read-only databases. Same rules as Transaction.
  Status ReadTransaction(const std::function<Status(Connection&)>& fn);

  // Highest migration version recorded in the database.
  Result<int> SchemaVersion();
  // Highest migration version this build knows.
  static int LatestSchemaVersion();

  const std::string& path() const { return path_; }

 private:
  Database(sqlite3* db, std::string path);
  Status Migrate(Access access);
  Status RunTransaction(const char* begin, const std::function<Status(Connection&)>& fn);

  std::string path_;
  sqlite3* db_;
  std::mutex mu_;
  Connection conn_;
};

}  // namespace concierge
