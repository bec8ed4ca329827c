// Object keys that try to leave a store's root, for the tests every
// ObjectStore backend must pass.
#pragma once

#include <string>
#include <vector>

#include "store/object_store.h"

namespace concierge::testing {

// Keys that climb out of the root or are not plain relative paths ("../x",
// "a//b", an embedded NUL, ...): every backend refuses them.
std::vector<std::string> PathTrickKeys();

// Expects Put, Get, Exists, Delete and Move from `key` on `store` each to
// fail with kInvalidArgument.
void ExpectKeyRefused(ObjectStore& store, const std::string& key);

}  // namespace concierge::testing
