#include "store/object_store.h"

#include <utility>

#include "store/fs_object_store.h"
#include "store/s3_object_store.h"

namespace concierge {

namespace {

constexpr size_t kMaxKeyChars = 512;

bool IsKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-' || c == '/';
}

// Checks `text` as a key, or as the start of one when `partial_last` (the last
// segment may then be empty or "."/".." since more characters may follow).
Status CheckKeyText(const std::string& text, bool partial_last, const char* what) {
  const auto bad = [&](const std::string& why) {
    return Status::InvalidArgument(std::string(what) + " '" + text + "' " + why);
  };
  if (text.size() > kMaxKeyChars)
    return bad("is longer than " + std::to_string(kMaxKeyChars) + " characters");
  for (const char c : text)
    if (!IsKeyChar(c)) return bad("may only hold letters, digits, '.', '_', '-' and '/'");
  if (!text.empty() && text.front() == '/') return bad("must be relative (no leading '/')");
  size_t start = 0;
  while (true) {
    const size_t slash = text.find('/', start);
    const bool last = slash == std::string::npos;
    const std::string segment = text.substr(start, last ? std::string::npos : slash - start);
    if (!(last && partial_last)) {
      if (segment.empty()) return bad("has an empty path segment");
      if (segment == "." || segment == "..") return bad("has a '.' or '..' segment");
    }
    if (last) return Status::Ok();
    start = slash + 1;
  }
}

}  // namespace

Status ValidateObjectKey(const std::string& key) {
  if (key.empty()) return Status::InvalidArgument("object key is empty");
  return CheckKeyText(key, false, "object key");
}

Status ValidateObjectPrefix(const std::string& prefix) {
  return CheckKeyText(prefix, true, "object key prefix");
}

Result<std::unique_ptr<ObjectStore>> OpenObjectStore(const ObjectStoreConfig& config,
                                                     const std::string& default_root) {
  if (config.kind == "fs") {
    const std::string& root = config.root.empty() ? default_root : config.root;
    if (root.empty()) return Status::InvalidArgument("object store root is empty");
    ASSIGN_OR_RETURN(std::unique_ptr<FsObjectStore> store, FsObjectStore::Open(root));
    return std::unique_ptr<ObjectStore>(std::move(store));
  }
  if (config.kind == "s3") {
    ASSIGN_OR_RETURN(std::unique_ptr<S3ObjectStore> store, S3ObjectStore::Open(config));
    return std::unique_ptr<ObjectStore>(std::move(store));
  }
  return Status::InvalidArgument("unknown object store kind '" + config.kind +
                                 "' (expected fs or s3)");
}

}  // namespace concierge
