// What every PostgreSQL backend needs (libpqxx): text-format query
// parameters, SQLSTATE to Status mapping, one reconnecting connection, and
// versioned migrations recorded per component in schema_migrations.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

#include "core/status.h"
#include "core/types.h"

namespace concierge {

// Query parameters in text format; nullopt is SQL NULL.
class PgParams {
 public:
  PgParams& Text(std::string value);
  PgParams& Int(int64_t value);
  // Shortest text that reads back as the same float, independent of locale.
  PgParams& Real(float value);
  PgParams& Null();
  PgParams& OptText(const std::optional<std::string>& value);
  PgParams& OptReal(const std::optional<float>& value);
  // A limit below zero means none (LIMIT NULL), as SQLite reads LIMIT -1.
  PgParams& Limit(int64_t limit);
  // bytea in its hex text form.
  PgParams& Bytes(std::string_view bytes);
  // bytea (float32 little-endian) in its hex text form; NULL when empty.
  PgParams& Floats(const Embedding& values);

  // Runs `sql` with these parameters ($1, $2, ...). Throws as libpqxx does.
  pqxx::result Exec(pqxx::transaction_base& tx, const std::string& sql) const;

 private:
  std::vector<std::optional<std::string>> values_;
};

// A REAL column as float (0 when unreadable).
float PgReadReal(const pqxx::field& f);
// A bytea column's bytes.
std::string PgReadBytes(const pqxx::field& f);
// A bytea column of float32 values; kInternal naming `what` if malformed.
Result<Embedding> PgReadFloats(const pqxx::field& f, const std::string& what);

// The libpq connection string with safe defaults added for what it leaves
// out: a bounded connect (5 s) and TCP keepalives, so a vanished server is noticed.
std::string PgConnInfoWithDefaults(const std::string& url);

// One connection used by one caller at a time, connected on first use.
class PgClient {
 public:
  explicit PgClient(std::string conninfo) : conninfo_(std::move(conninfo)) {}

  // Runs fn on the connection, connecting first if there is none. Library
  // exceptions become a Status (kUnavailable: server unreachable or lost,
  // kPermissionDenied, kAlreadyExists: unique violation, kNotFound: foreign key
  // or no database, kInvalidArgument: bad data, kIoError otherwise; messages
  // never hold the password). A lost connection is dropped so the next call
  // reconnects, and one found dead before fn did anything is retried once:
  // fn must be idempotent or transactional.
  template <typename T>
  Result<T> Run(const std::string& what, const std::function<Result<T>(pqxx::connection&)>& fn) {
    std::lock_guard<std::mutex> lock(mu_);
    for (int attempt = 0;; ++attempt) {
      const bool fresh = conn_ == nullptr;
      if (fresh) {
        if (Status st = Connect(); !st.ok()) return st;
      }
      Status lost;
      try {
        return fn(*conn_);
      } catch (const pqxx::in_doubt_error& e) {
        conn_.reset();
        return InDoubt(e, what);
      } catch (const std::exception& e) {
        lost = Classify(e, what);
        if (lost.code() != Status::Code::kUnavailable) return lost;
      }
      conn_.reset();
      if (fresh || attempt > 0) return lost;
    }
  }

  // Runs body(tx) in one transaction on the connection and commits it, with
  // Run's errors and retry. body returns void or Status; a Status that is not
  // ok rolls the transaction back and is returned.
  template <typename Body>
  Status Write(const std::string& what, Body&& body) {
    return Run<bool>(what,
                     [&](pqxx::connection& c) -> Result<bool> {
                       pqxx::work tx(c);
                       if constexpr (std::is_void_v<std::invoke_result_t<Body&, pqxx::work&>>) {
                         body(tx);
                       } else {
                         RETURN_IF_ERROR(body(tx));
                       }
                       tx.commit();
                       return true;
                     })
        .status();
  }

  // Applies the pending entries of `migrations` (entry N-1 is version N) for
  // `component`, each in its own transaction and exactly once even when several
  // processes migrate at the same time. kFailedPrecondition if the database
  // holds a newer version than `migrations` knows.
  Status Migrate(const std::string& component, const std::vector<const char*>& migrations);

 private:
  Status Connect();
  // Maps an exception thrown by fn.
  static Status Classify(const std::exception& e, const std::string& what);
  static Status InDoubt(const std::exception& e, const std::string& what);

  const std::string conninfo_;
  std::mutex mu_;
  std::unique_ptr<pqxx::connection> conn_;
};

// The PostgreSQL backend Backend(conninfo, args...) of a store, on the
// connection string PgConnInfoWithDefaults(url), after its Open() (applying
// its migrations) succeeded; kInvalidArgument for an empty url.
template <typename Store, typename Backend, typename... Args>
Result<std::unique_ptr<Store>> OpenPgBackend(const std::string& url, Args&&... args) {
  if (url.empty()) return Status::InvalidArgument("database.postgres_url is empty");
  auto backend =
      std::make_unique<Backend>(PgConnInfoWithDefaults(url), std::forward<Args>(args)...);
  RETURN_IF_ERROR(backend->Open());
  return std::unique_ptr<Store>(std::move(backend));
}

}  // namespace concierge
