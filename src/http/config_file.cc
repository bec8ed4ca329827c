#include "http/config_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/config.h"
#include "core/json_limits.h"

namespace concierge {

std::mutex& ConfigFileMutex() {
  static std::mutex mu;
  return mu;
}

Result<nlohmann::json> ReadConfigFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return nlohmann::json::object();
  auto doc = ReadBoundedJsonFile(path);
  if (doc.ok() && doc->is_object()) return doc;
  if (!doc.ok() && doc.status().code() == Status::Code::kIoError) return doc.status();
  return Status::FailedPrecondition(path + " is not a JSON object; fix it by hand");
}

nlohmann::json SettingsDocument(const nlohmann::json& file_doc, const nlohmann::json& stored) {
  nlohmann::json storable, ignored;
  SplitSettingsPatch(stored, &storable, &ignored);
  nlohmann::json document = file_doc;
  document.merge_patch(storable);
  return document;
}

Status WriteFileAtomically(const std::string& path, const std::string& bytes) {
  const std::string temp = path + ".tmp";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IoError("cannot create " + temp + ": " + std::strerror(errno));
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      return Status::IoError("cannot write " + temp + ": " + why);
    }
    written += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(temp.c_str(), path.c_str()) != 0)
    return Status::IoError("cannot replace " + path + ": " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace concierge
