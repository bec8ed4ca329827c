// The SQLite backend of the SightingStore, on the shared metadata Database.
#pragma once

#include <memory>

#include "store/database.h"
#include "store/sighting_store.h"

namespace concierge {

// Needs an open Database (schema 3 or later) that outlives the store.
std::unique_ptr<SightingStore> NewSqliteSightingStore(Database* db);

}  // namespace concierge
