// The object store: pictures and other blobs under '/'-separated keys such as
// incoming/2026-11-23/abc.jpg. One interface, several backends (filesystem
// and S3-compatible); callers never see which one they use.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/status.h"

namespace concierge {

// OK when `key` is relative, at most 512 chars of [A-Za-z0-9._-/], with no
// empty, "." or ".." segment and no leading or trailing '/'; else
// kInvalidArgument saying why. Every backend checks keys with this.
Status ValidateObjectKey(const std::string& key);

// OK when `prefix` is empty or could begin a valid key (e.g. "known/" or
// "unknown/2026-"); else kInvalidArgument.
Status ValidateObjectPrefix(const std::string& prefix);

// All methods validate their keys first and are safe to call from many
// threads. Errors: kInvalidArgument (bad key), kNotFound (missing object),
// kIoError (storage trouble, e.g. disk full or read-only, naming the cause).
class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Stores `bytes` under `key`, replacing any old object atomically: readers
  // see the old or the new object, never a partial one, also after a failure.
  virtual Status Put(const std::string& key, std::string_view bytes) = 0;
  // The object's bytes, or kNotFound.
  virtual Result<std::string> Get(const std::string& key) = 0;
  // Removes the object; OK if it was already absent (idempotent, as on S3).
  virtual Status Delete(const std::string& key) = 0;
  // Renames `from` to `to`, replacing `to`; kNotFound if `from` is absent.
  virtual Status Move(const std::string& from, const std::string& to) = 0;
  // Whether the object exists; errors only for bad keys or storage trouble.
  virtual Result<bool> Exists(const std::string& key) = 0;
  // Every key starting with `prefix` (plain string prefix, as on S3), sorted.
  virtual Result<std::vector<std::string>> List(const std::string& prefix) = 0;
};

// Opens the backend `config.kind` names. "fs": rooted at config.root, or
// `default_root` when that is empty; the root is created if missing. "s3":
// the bucket at config.s3_endpoint, created if missing. Unknown kinds yield
// kInvalidArgument.
Result<std::unique_ptr<ObjectStore>> OpenObjectStore(const ObjectStoreConfig& config,
                                                     const std::string& default_root);

}  // namespace concierge
