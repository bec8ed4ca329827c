// The SQLite backend of FaceRepository: the collections, persons, faces,
// face_embeddings and face_negatives tables of the Database (migrations 1, 5 and 7).
#pragma once

#include <memory>
#include <string>

#include "store/database.h"
#include "store/face_repository.h"

namespace concierge {

// Needs `db` to outlive the repository. Its ChangeToken is SQLite's
// data_version, which changes only when another connection commits, so the
// owner's own writes never look like foreign changes.
std::unique_ptr<FaceRepository> NewSqliteFaceRepository(Database* db, std::string collection);

}  // namespace concierge
