// The SQLite backend of FaceRepository: the collections, persons, faces,
// face_embeddings and face_negatives tables of the Database (migrations 1, 5, 7
// and 16).
#pragma once

#include <memory>
#include <string>

#include "store/database.h"
#include "store/face_repository.h"

namespace concierge {

// Needs `db` to outlive the repository. Its ChangeToken is the collection's
// change counter (bumped by triggers on every write to the collection) less
// the bumps of this repository's own writes, so those never look like foreign
// changes and writes to other tables are no change at all.
std::unique_ptr<FaceRepository> NewSqliteFaceRepository(Database* db, std::string collection);

}  // namespace concierge
