// Filesystem backend of the ObjectStore: key a/b.jpg is the file <root>/a/b.jpg.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "store/object_store.h"

namespace concierge {

// Durability: Put writes a temp file beside the target, fsyncs it, renames it
// into place and fsyncs the directory, so a crash leaves the old or the new
// object. Temp names contain '~', which no valid key has, so List never shows
// them. Files are created 0600 and directories 0700: pictures are personal data.
class FsObjectStore : public ObjectStore {
 public:
  // Creates `root` if missing. kIoError if it cannot be created or is not a directory.
  static Result<std::unique_ptr<FsObjectStore>> Open(const std::string& root);

  Status Put(const std::string& key, std::string_view bytes) override;
  Result<std::string> Get(const std::string& key) override;
  Status Delete(const std::string& key) override;
  Status Move(const std::string& from, const std::string& to) override;
  Result<bool> Exists(const std::string& key) override;
  Result<std::vector<std::string>> List(const std::string& prefix) override;

 private:
  explicit FsObjectStore(std::filesystem::path root) : root_(std::move(root)) {}
  // The file path for a valid key that stays inside the root, even through symlinks.
  Result<std::filesystem::path> PathOf(const std::string& key) const;
  // Creates missing directories from the root down to `dir`, syncing each new entry.
  Status MakeDirs(const std::filesystem::path& dir) const;

  std::filesystem::path root_;  // canonical
};

}  // namespace concierge
