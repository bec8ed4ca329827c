#include "store/pg_client.h"

#include <charconv>
#include <cstring>
#include <utility>

#include "core/clock.h"

namespace concierge {

namespace {

// Serialises migrations across every process sharing the database.
constexpr char kMigrationLock[] = "SELECT pg_advisory_xact_lock(7406331862240613187)";

// libpq's multi-line, tab-indented messages as one line with single spaces.
std::string OneLine(const std::string& text) {
  std::string out;
  for (const char c : text) {
    const bool space = c == ' ' || c == '\n' || c == '\t';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out += space ? ' ' : c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

bool Contains(const std::string& text, const char* needle) {
  return text.find(needle) != std::string::npos;
}

// A failed login is told apart by libpq's wording; it has no SQLSTATE here.
Status ConnectError(const std::string& detail) {
  const std::string what = "cannot connect to PostgreSQL: " + OneLine(detail);
  if (Contains(detail, "authentication failed") || Contains(detail, "no pg_hba.conf entry") ||
      Contains(detail, "permission denied"))
    return Status::PermissionDenied(what);
  if (Contains(detail, "database \"") && Contains(detail, "does not exist"))
    return Status::NotFound(what);
  return Status::Unavailable(what);
}

// Maps a server error by its SQLSTATE class.
Status SqlError(const pqxx::sql_error& e, const std::string& what) {
  const std::string state = e.sqlstate();
  const std::string detail = "PostgreSQL " + what + ": " + OneLine(e.what()) +
                             (state.empty() ? "" : " [" + state + "]");
  const std::string cls = state.substr(0, 2);
  if (cls == "08" || state == "57P01" || state == "57P02" || state == "57P03" ||
      state == "53300")
    return Status::Unavailable(detail);
  if (cls == "28" || state == "42501") return Status::PermissionDenied(detail);
  if (state == "23505") return Status::AlreadyExists(detail);
  if (state == "23503") return Status::NotFound(detail);
  if (cls == "22" || cls == "23") return Status::InvalidArgument(detail);
  if (state == "3D000") return Status::NotFound(detail);
  if (cls == "42") return Status::Internal(detail);
  return Status::IoError(detail);
}

}  // namespace

PgParams& PgParams::Text(std::string value) {
  values_.emplace_back(std::move(value));
  return *this;
}

PgParams& PgParams::Int(int64_t value) { return Text(std::to_string(value)); }

PgParams& PgParams::Real(float value) {
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof(buf), value).ptr;
  return Text(std::string(buf, end));
}

PgParams& PgParams::Null() {
  values_.emplace_back(std::nullopt);
  return *this;
}

PgParams& PgParams::OptText(const std::optional<std::string>& value) {
  return value ? Text(*value) : Null();
}

PgParams& PgParams::OptReal(const std::optional<float>& value) {
  return value ? Real(*value) : Null();
}

PgParams& PgParams::Limit(int64_t limit) { return limit < 0 ? Null() : Int(limit); }

PgParams& PgParams::Bytes(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex = "\\x";
  hex.reserve(2 + bytes.size() * 2);
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    hex += kDigits[b >> 4];
    hex += kDigits[b & 0xf];
  }
  return Text(std::move(hex));
}

PgParams& PgParams::Floats(const Embedding& values) {
  if (values.empty()) return Null();
  return Bytes(std::string_view(reinterpret_cast<const char*>(values.data()),
                                values.size() * sizeof(float)));
}

pqxx::result PgParams::Exec(pqxx::transaction_base& tx, const std::string& sql) const {
  std::vector<const char*> pointers;
  for (const auto& value : values_) pointers.push_back(value ? value->c_str() : nullptr);
  return tx.exec_params(sql, pqxx::prepare::make_dynamic_params(pointers));
}

float PgReadReal(const pqxx::field& f) {
  float value = 0;
  const char* text = f.c_str();
  std::from_chars(text, text + std::strlen(text), value);
  return value;
}

std::string PgReadBytes(const pqxx::field& f) {
  const pqxx::binarystring blob(f);
  return blob.str();
}

Result<Embedding> PgReadFloats(const pqxx::field& f, const std::string& what) {
  const pqxx::binarystring blob(f);
  if (blob.size() % sizeof(float) != 0)
    return Status::Internal(what + " has a malformed embedding");
  Embedding out(blob.size() / sizeof(float));
  if (blob.size() > 0) std::memcpy(out.data(), blob.data(), blob.size());
  return out;
}

std::string PgConnInfoWithDefaults(const std::string& url) {
  const bool uri = url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
  std::string out = url;
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"connect_timeout", "5"},
           {"keepalives_idle", "15"},
           {"keepalives_interval", "5"},
           {"keepalives_count", "3"}}) {
    if (Contains(url, (key + "=").c_str())) continue;
    if (uri) out += (out.find('?') == std::string::npos ? "?" : "&") + key + "=" + value;
    else out += " " + key + "=" + value;
  }
  return out;
}

Status PgClient::Connect() {
  try {
    conn_ = std::make_unique<pqxx::connection>(conninfo_);
    return Status::Ok();
  } catch (const std::exception& e) {
    return ConnectError(e.what());
  }
}

Status PgClient::Classify(const std::exception& e, const std::string& what) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e))
    return Status::Unavailable("PostgreSQL connection lost (" + what + "): " + OneLine(e.what()));
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) return SqlError(*sql, what);
  return Status::Internal("PostgreSQL " + what + ": " + OneLine(e.what()));
}

Status PgClient::InDoubt(const std::exception& e, const std::string& what) {
  return Status::Unavailable("PostgreSQL connection lost while committing (" + what +
                             "); the outcome is unknown: " + OneLine(e.what()));
}

Status PgClient::Migrate(const std::string& component,
                         const std::vector<const char*>& migrations) {
  const int latest = static_cast<int>(migrations.size());
  return Run<bool>("migrating the " + component + " schema",
                   [&](pqxx::connection& c) -> Result<bool> {
                     for (int version = 0; version <= latest; ++version) {
                       pqxx::work tx(c);
                       tx.exec(kMigrationLock);
                       if (version == 0) {
                         tx.exec("CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT "
                                 "NOT NULL, version INTEGER NOT NULL, applied_ms BIGINT NOT "
                                 "NULL, PRIMARY KEY (component, version))");
                       } else {
                         const int current =
                             PgParams()
                                 .Text(component)
                                 .Exec(tx, "SELECT COALESCE(MAX(version), 0) FROM "
                                           "schema_migrations WHERE component = $1")[0][0]
                                 .as<int>();
                         if (current > latest)
                           return Status::FailedPrecondition(
                               "the PostgreSQL " + component + " schema is version " +
                               std::to_string(current) + ", newer than this build's " +
                               std::to_string(latest) + "; upgrade Concierge");
                         if (current >= version) continue;  // another process applied it
                         tx.exec(migrations[static_cast<size_t>(version - 1)]);
                         PgParams().Text(component).Int(version).Int(NowMs()).Exec(
                             tx, "INSERT INTO schema_migrations(component, version, applied_ms) "
                                 "VALUES($1, $2, $3)");
                       }
                       tx.commit();
                     }
                     return true;
                   })
      .status();
}

}  // namespace concierge
