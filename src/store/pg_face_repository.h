// The PostgreSQL backend of FaceRepository (libpqxx), so several servers on
// different machines share one face collection. Its tables mirror the SQLite
// ones (collections, persons, faces, face_negatives) and are versioned as
// component "faces" in schema_migrations; collections.version is bumped by
// every change so servers notice other writers with one cheap query.
#pragma once

#include <memory>
#include <string>

#include "store/face_repository.h"

namespace concierge {

// Needs a libpq connection string (as OpenPgSightingStore). Connects and
// applies pending migrations, exactly once even when several processes open
// the database at the same time. Errors: kUnavailable (unreachable),
// kPermissionDenied (login refused), kNotFound (no such database),
// kFailedPrecondition (schema newer than this build). Messages never contain
// the password. The repository holds one connection and reconnects after a loss.
Result<std::unique_ptr<FaceRepository>> OpenPgFaceRepository(const std::string& url,
                                                             const std::string& collection);

}  // namespace concierge
