#include "store/fs_object_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>
#include <vector>

namespace concierge {

namespace fs = std::filesystem;

namespace {

// A Status for a failed system call, leading with the cause operators act on.
Status ErrnoStatus(int err, const std::string& what) {
  const std::string detail = what + ": " + std::strerror(err);
  switch (err) {
    case ENOSPC:
    case EDQUOT: return Status::IoError("disk full: " + detail);
    case EROFS: return Status::IoError("read-only filesystem: " + detail);
    case EACCES:
    case EPERM: return Status::IoError("permission denied: " + detail);
    case EFBIG: return Status::IoError("file too large: " + detail);
    case ENAMETOOLONG: return Status::InvalidArgument("object key too long for the filesystem: " +
                                                      detail);
    default: return Status::IoError(detail);
  }
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now, reporting the error close() may carry (e.g. deferred ENOSPC on NFS).
  int Close() { return ::close(std::exchange(fd_, -1)) == 0 ? 0 : errno; }

 private:
  int fd_;
};

// 0 or the errno of the failure. Makes a rename or unlink in `dir` durable.
int SyncDir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return errno;
  if (::fsync(fd.get()) != 0) return errno;
  return fd.Close();
}

// 0 or the errno of the failure.
int WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return 0;
}

std::string Quoted(const std::string& s) { return "'" + s + "'"; }

}  // namespace

Result<std::unique_ptr<FsObjectStore>> FsObjectStore::Open(const std::string& root) {
  if (root.empty()) return Status::InvalidArgument("object store root is empty");
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return Status::IoError("cannot create object store root " + root + ": " + ec.message());
  fs::path canonical = fs::canonical(root, ec);
  if (ec) return Status::IoError("cannot resolve object store root " + root + ": " + ec.message());
  if (!fs::is_directory(canonical, ec))
    return Status::IoError("object store root " + root + " is not a directory");
  return std::unique_ptr<FsObjectStore>(new FsObjectStore(std::move(canonical)));
}

Result<fs::path> FsObjectStore::PathOf(const std::string& key) const {
  RETURN_IF_ERROR(ValidateObjectKey(key));
  std::error_code ec;
  // Resolves symlinks, so a link inside the root cannot lead outside it.
  fs::path path = fs::weakly_canonical(root_ / key, ec);
  if (ec) return Status::IoError("cannot resolve object key " + Quoted(key) + ": " + ec.message());
  const auto [r, p] = std::mismatch(root_.begin(), root_.end(), path.begin(), path.end());
  if (r != root_.end() || p == path.end())
    return Status::InvalidArgument("object key " + Quoted(key) + " leads outside " +
                                   root_.string());
  return path;
}

Status FsObjectStore::MakeDirs(const fs::path& dir) const {
  std::vector<fs::path> missing;
  std::error_code ec;
  for (fs::path d = dir; d != root_ && !fs::exists(d, ec); d = d.parent_path())
    missing.push_back(d);
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0700) != 0 && errno != EEXIST) {
      const int err = errno;
      return ErrnoStatus(err, "creating directory " + it->string());
    }
    if (const int err = SyncDir(it->parent_path()); err != 0)
      return ErrnoStatus(err, "syncing directory " + it->parent_path().string());
  }
  return Status::Ok();
}

Status FsObjectStore::Put(const std::string& key, std::string_view bytes) {
  ASSIGN_OR_RETURN(const fs::path path, PathOf(key));
  const fs::path dir = path.parent_path();
  RETURN_IF_ERROR(MakeDirs(dir));

  // '~' never appears in a valid key, so the temp name cannot clash with an object.
  std::string temp = path.string() + "~XXXXXX";
  Fd fd(::mkostemp(temp.data(), O_CLOEXEC));
  int err = fd.get() < 0 ? errno : 0;
  if (err != 0) return ErrnoStatus(err, "creating object " + Quoted(key) + " in " + dir.string());
  err = WriteAll(fd.get(), bytes);
  if (err == 0 && ::fsync(fd.get()) != 0) err = errno;
  if (err == 0) err = fd.Close();
  if (err == 0 && ::rename(temp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(temp.c_str());
    return ErrnoStatus(err, "writing object " + Quoted(key) + " under " + root_.string());
  }
  if (const int sync_err = SyncDirShared(dir); sync_err != 0)
    return ErrnoStatus(sync_err, "syncing directory " + dir.string());
  return Status::Ok();
}

int FsObjectStore::SyncDirShared(const fs::path& dir) {
  std::unique_lock<std::mutex> lock(sync_mu_);
  DirSync& state = dir_syncs_[dir.string()];  // unordered_map references stay valid
  const uint64_t mine = ++state.requested;
  for (;;) {
    // A finished fsync that began after our change covers it, failed or not.
    if (state.synced >= mine) return state.error;
    if (!state.running) break;
    synced_.wait(lock);
  }
  state.running = true;
  const uint64_t covers = state.requested;
  lock.unlock();
  const int err = SyncDir(dir);
  lock.lock();
  state.running = false;
  state.synced = covers;
  state.error = err;
  synced_.notify_all();
  return err;
}

Result<std::string> FsObjectStore::Get(const std::string& key) {
  ASSIGN_OR_RETURN(const fs::path path, PathOf(key));
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  const int err = fd.get() < 0 || ::fstat(fd.get(), &st) != 0 ? errno : 0;
  if (err != 0 && err != ENOENT && err != ENOTDIR)
    return ErrnoStatus(err, "reading object " + Quoted(key));
  if (err != 0 || !S_ISREG(st.st_mode))
    return Status::NotFound("object " + Quoted(key) + " not found");
  std::string out;
  out.reserve(static_cast<size_t>(st.st_size));
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n == 0) return out;
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "reading object " + Quoted(key));
    }
    out.append(buf, static_cast<size_t>(n));
  }
}

Status FsObjectStore::Delete(const std::string& key) {
  ASSIGN_OR_RETURN(const fs::path path, PathOf(key));
  if (::unlink(path.c_str()) != 0) {
    const int err = errno;
    // Absent (or a directory, which is never an object): nothing to delete.
    if (err == ENOENT || err == ENOTDIR || err == EISDIR) return Status::Ok();
    return ErrnoStatus(err, "deleting object " + Quoted(key));
  }
  if (const int err = SyncDirShared(path.parent_path()); err != 0)
    return ErrnoStatus(err, "syncing directory " + path.parent_path().string());
  return Status::Ok();
}

Status FsObjectStore::Move(const std::string& from, const std::string& to) {
  ASSIGN_OR_RETURN(const fs::path src, PathOf(from));
  ASSIGN_OR_RETURN(const fs::path dst, PathOf(to));
  struct stat st {};
  const int err = ::stat(src.c_str(), &st) != 0 ? errno : 0;
  if (err != 0 && err != ENOENT && err != ENOTDIR)
    return ErrnoStatus(err, "moving object " + Quoted(from));
  if (err != 0 || !S_ISREG(st.st_mode))
    return Status::NotFound("object " + Quoted(from) + " not found");
  RETURN_IF_ERROR(MakeDirs(dst.parent_path()));
  if (::rename(src.c_str(), dst.c_str()) != 0) {
    const int rename_err = errno;
    return ErrnoStatus(rename_err, "moving object " + Quoted(from) + " to " + Quoted(to));
  }
  std::vector<fs::path> dirs = {dst.parent_path()};
  if (src.parent_path() != dst.parent_path()) dirs.push_back(src.parent_path());
  for (const fs::path& dir : dirs) {
    if (const int sync_err = SyncDirShared(dir); sync_err != 0)
      return ErrnoStatus(sync_err, "syncing directory " + dir.string());
  }
  return Status::Ok();
}

Result<bool> FsObjectStore::Exists(const std::string& key) {
  ASSIGN_OR_RETURN(const fs::path path, PathOf(key));
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return S_ISREG(st.st_mode);
  const int err = errno;
  if (err == ENOENT || err == ENOTDIR) return false;
  return ErrnoStatus(err, "checking object " + Quoted(key));
}

Result<std::vector<std::string>> FsObjectStore::List(const std::string& prefix) {
  RETURN_IF_ERROR(ValidateObjectPrefix(prefix));
  // Walk only the deepest directory the prefix names, then filter by prefix.
  const size_t slash = prefix.rfind('/');
  const std::string base = slash == std::string::npos ? "" : prefix.substr(0, slash + 1);
  fs::path dir = root_;
  if (!base.empty()) {
    ASSIGN_OR_RETURN(dir, PathOf(base.substr(0, base.size() - 1)));
  }
  std::vector<std::string> keys;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return keys;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code type_ec;
    if (it->symlink_status(type_ec).type() != fs::file_type::regular) continue;
    const std::string key = base + it->path().lexically_relative(dir).generic_string();
    if (key.compare(0, prefix.size(), prefix) == 0 && ValidateObjectKey(key).ok())
      keys.push_back(key);
  }
  if (ec) return Status::IoError("listing objects under " + dir.string() + ": " + ec.message());
  std::sort(keys.begin(), keys.end());
  return keys;
}

}  // namespace concierge
