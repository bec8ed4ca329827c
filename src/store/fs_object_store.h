// Filesystem backend of the ObjectStore: key a/b.jpg is the file <root>/a/b.jpg.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "store/object_store.h"

namespace concierge {

// Durability: Put writes a temp file beside the target, fsyncs it, renames it
// into place and fsyncs the directory, so a crash leaves the old or the new
// object. Temp names contain '~', which no valid key has, so List never shows
// them. Files are created 0600 and directories 0700: pictures are personal data.
// Thread safety: every method may be called from several threads; concurrent
// changes in one directory share its fsync (group commit), which is what
// lets many ingest connections write the day's folder at once.
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

  // 0 or the errno of a failed fsync that covered this call: returns once an
  // fsync of `dir` that began after the call has finished, doing it itself
  // unless one is already running, so waiting callers share the next one.
  int SyncDirShared(const std::filesystem::path& dir);

  std::filesystem::path root_;  // canonical

  // Per directory: how many callers asked, and up to which one the last
  // finished fsync covers. One entry per directory ever synced.
  struct DirSync {
    uint64_t requested = 0;
    uint64_t synced = 0;
    bool running = false;
    int error = 0;  // of the last finished fsync
  };
  std::mutex sync_mu_;
  std::condition_variable synced_;
  std::unordered_map<std::string, DirSync> dir_syncs_;
};

}  // namespace concierge
