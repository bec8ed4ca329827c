#include "support/object_keys.h"

#include <gtest/gtest.h>

namespace concierge::testing {

std::vector<std::string> PathTrickKeys() {
  return {"../x", "/etc/passwd", "a/../../b", "a//b", "a/./b",
          "a\\b", std::string("a\0b", 3), "..", "x/.."};
}

void ExpectKeyRefused(ObjectStore& store, const std::string& key) {
  SCOPED_TRACE(key);
  EXPECT_EQ(store.Put(key, "evil").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store.Get(key).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store.Exists(key).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store.Delete(key).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store.Move(key, "ok").code(), Status::Code::kInvalidArgument);
}

}  // namespace concierge::testing
