#include "vision/media_plugin.h"

#include <dlfcn.h>

#include <filesystem>
#include <mutex>

namespace concierge {

namespace {

namespace fs = std::filesystem;

constexpr const char* kPluginFile = "libconcierge-media.so";

// Where to look, in order: the installed layout (<prefix>/bin/concierge and
// <prefix>/lib/concierge/), then the build tree the binary came from.
std::vector<fs::path> Candidates() {
  std::vector<fs::path> paths;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) paths.push_back(exe.parent_path().parent_path() / "lib" / "concierge" / kPluginFile);
  paths.push_back(CONCIERGE_MEDIA_PLUGIN_BUILD_PATH);
  return paths;
}

Result<const MediaCodecs*> Load() {
  std::string reasons;
  for (const fs::path& path : Candidates()) {
    std::error_code ec;
    if (!fs::exists(path, ec)) {
      reasons += "; " + path.string() + ": not found";
      continue;
    }
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);  // kept for the process's life
    if (!handle) {
      reasons += "; " + path.string() + ": " + dlerror();
      continue;
    }
    using EntryPoint = const MediaCodecs* (*)();
    auto entry = reinterpret_cast<EntryPoint>(dlsym(handle, kMediaCodecsEntryPoint));
    if (!entry) {
      reasons += "; " + path.string() + ": no " + kMediaCodecsEntryPoint;
      continue;
    }
    return entry();
  }
  return Status::Unavailable(std::string("cannot load the media plugin (video and non-JPEG "
                                         "pictures)") + reasons);
}

}  // namespace

Result<const MediaCodecs*> LoadMediaCodecs() {
  static std::once_flag once;
  static Result<const MediaCodecs*> codecs = Status::Unavailable("not loaded");
  std::call_once(once, [] { codecs = Load(); });
  return codecs;
}

Result<std::unique_ptr<VideoCapture>> NewVideoCapture() {
  ASSIGN_OR_RETURN(const MediaCodecs* codecs, LoadMediaCodecs());
  return codecs->NewCapture();
}

}  // namespace concierge
