// Which FaceRepository backend a config names: one switch for the CLI's
// services and for the collections the Rekognition-compatible API creates.
#pragma once

#include <memory>
#include <string>

#include "core/config.h"
#include "core/status.h"
#include "store/database.h"
#include "store/face_repository.h"

namespace concierge {

// The repository of `collection` on database.kind: "sqlite" in `sqlite` (which
// must outlive it; may be null only for "postgres") or "postgres" at
// database.postgres_url. kInvalidArgument for another kind; PostgreSQL errors
// as OpenPgFaceRepository.
Result<std::unique_ptr<FaceRepository>> OpenFaceRepository(const DatabaseConfig& config,
                                                           Database* sqlite,
                                                           const std::string& collection);

}  // namespace concierge
