// The PostgreSQL backend of the SightingStore (libpqxx), for scale-out where
// several servers share one database. Same semantics as the SQLite backend;
// its schema is versioned in its own rows of the schema_migrations table.
#pragma once

#include <memory>
#include <string>

#include "store/sighting_store.h"

namespace concierge {

// Needs a libpq connection string (postgresql://user[:password]@host:port/db or
// "host=... dbname=..."); connect_timeout defaults to 5 s unless it sets one.
// Connects, then applies pending migrations, each in its own transaction and
// exactly once even when several servers open the database at the same time.
// Errors: kUnavailable (server unreachable), kPermissionDenied (login refused),
// kNotFound (no such database), kFailedPrecondition (schema newer than this
// build). Messages never contain the password.
//
// The store holds one connection, used by one caller at a time. Beyond the
// SightingStore errors, any call may return kUnavailable when the connection
// is lost; the next call reconnects. A call on a connection that turns out to
// have died while idle (e.g. a database restart) reconnects and retries once,
// which is safe because every operation is idempotent.
Result<std::unique_ptr<SightingStore>> OpenPgSightingStore(const std::string& url);

// Highest schema version of the sighting tables that this build knows.
int PgSightingSchemaVersion();

}  // namespace concierge
