#include "store/ann_index.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <mutex>
#include <new>
#include <string>
#include <thread>

#include <hnswlib/hnswlib.h>

#include "core/hash.h"
#include "store/vector_codes.h"

namespace concierge {
namespace {

// hnswlib's distance between two codes: 1 - their decoded dot product.
float CodeDistance(const void* a, const void* b, const void* dims) {
  return 1.f - CodeCodeDot(static_cast<const char*>(a), static_cast<const char*>(b),
                           *static_cast<const size_t*>(dims));
}

class CodeSpace final : public hnswlib::SpaceInterface<float> {
 public:
  explicit CodeSpace(size_t dims) : dims_(dims) {}
  size_t get_data_size() override { return CodeBytes(dims_); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return &CodeDistance; }
  void* get_dist_func_param() override { return &dims_; }

 private:
  size_t dims_;
};

namespace fs = std::filesystem;

constexpr const char* kSaveSuffix = ".hnsw";
// Save writes <stem><kTempTail><pid> first.
constexpr const char* kTempTail = ".tmp-";

// What Create and Load need.
Status CheckArguments(int dims, const AnnOptions& options) {
  if (dims < 1) return Status::InvalidArgument("an ANN index needs at least one dimension");
  if (options.m < 2 || options.ef_construction < 1 || options.ef_search < 1)
    return Status::InvalidArgument("ANN options need m >= 2, ef_construction >= 1, ef_search >= 1");
  return Status::Ok();
}

// The folder Save writes `stem`'s files in.
fs::path FolderOf(const std::string& stem) {
  const fs::path base(stem);
  return base.has_parent_path() ? base.parent_path() : fs::path(".");
}

// The files in `stem`'s folder whose names are its file name followed by
// `tail` and more.
std::vector<fs::path> FilesBeside(const std::string& stem, const std::string& tail) {
  const std::string prefix = fs::path(stem).filename().string() + tail;
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(FolderOf(stem), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() > prefix.size() && name.rfind(prefix, 0) == 0) files.push_back(it->path());
  }
  return files;
}

// The files Save wrote beside `stem`: <stem>.<64 hex digits>.hnsw, newest
// first (more than one only after a crash between a save and its clean-up).
std::vector<fs::path> SavedFiles(const std::string& stem) {
  const size_t digest_end = fs::path(stem).filename().string().size() + 1 + 64;
  std::vector<std::pair<fs::file_time_type, fs::path>> found;
  for (fs::path& file : FilesBeside(stem, ".")) {
    const std::string name = file.filename().string();
    if (name.size() != digest_end + std::strlen(kSaveSuffix) ||
        name.compare(digest_end, std::string::npos, kSaveSuffix) != 0)
      continue;
    std::error_code ec;
    found.emplace_back(fs::last_write_time(file, ec), std::move(file));
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a > b; });
  std::vector<fs::path> files;
  for (auto& [time, path] : found) files.push_back(std::move(path));
  return files;
}


// Removes the temporary files of saves whose process is gone (killed
// midway, e.g. at a stop timeout): at a million faces each is 750 MB.
void RemoveAbandonedTemps(const std::string& stem) {
  for (const fs::path& file : FilesBeside(stem, kTempTail)) {
    const std::string name = file.filename().string();
    const long pid = std::strtol(name.c_str() + name.rfind('-') + 1, nullptr, 10);
    std::error_code ec;
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
      fs::remove(file, ec);
  }
}

// The SHA-256 a saved file's name states.
std::string DigestInName(const fs::path& file) {
  const std::string name = file.filename().string();
  return name.substr(name.size() - std::strlen(kSaveSuffix) - 64, 64);
}

// fsync of a file or folder; kIoError naming it.
Status SyncPath(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  const bool synced = fd >= 0 && ::fsync(fd) == 0;
  const int error = errno;
  if (fd >= 0) ::close(fd);
  if (!synced) return Status::IoError("cannot sync " + path + ": " + std::strerror(error));
  return Status::Ok();
}

}  // namespace

struct AnnIndex::Impl {
  explicit Impl(int dims) : dims(static_cast<size_t>(dims)), space(this->dims) {}
  const size_t dims;
  CodeSpace space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph;
  AnnOptions options;
  size_t live = 0;
  size_t removed = 0;
  bool dirty = false;

  // Room for `more` additions: doubles the capacity when full.
  void Reserve(size_t more) {
    const size_t used = graph->cur_element_count;
    if (used + more <= graph->max_elements_) return;
    graph->resizeIndex(std::max(used + more, graph->max_elements_ * 2));
  }

  // The stored code of a present id, or nullptr. The owner excludes
  // writers, so the lookup needs no hnswlib lock.
  const char* CodeOf(int64_t id) const {
    const auto it = graph->label_lookup_.find(static_cast<hnswlib::labeltype>(id));
    if (it == graph->label_lookup_.end() || graph->isMarkedDeleted(it->second)) return nullptr;
    return graph->getDataByInternalId(it->second);
  }

  // The size of the file hnswlib's saveIndex writes for the graph (its
  // stream reports no errors, so a short write shows only in the size).
  size_t SavedBytes() const {
    const auto& g = *graph;
    size_t bytes = sizeof(g.offsetLevel0_) + sizeof(g.max_elements_) +
                   sizeof(g.cur_element_count) + sizeof(g.size_data_per_element_) +
                   sizeof(g.label_offset_) + sizeof(g.offsetData_) + sizeof(g.maxlevel_) +
                   sizeof(g.enterpoint_node_) + sizeof(g.maxM_) + sizeof(g.maxM0_) +
                   sizeof(g.M_) + sizeof(g.mult_) + sizeof(g.ef_construction_);
    bytes += g.cur_element_count * g.size_data_per_element_;
    for (size_t i = 0; i < g.cur_element_count; ++i)
      bytes += sizeof(unsigned int) +
               static_cast<size_t>(g.element_levels_[i]) * g.size_links_per_element_;
    return bytes;
  }
};

AnnIndex::AnnIndex(int dims, std::unique_ptr<Impl> impl) : dims_(dims), impl_(std::move(impl)) {}
AnnIndex::~AnnIndex() = default;

Result<std::unique_ptr<AnnIndex>> AnnIndex::Create(int dims, const AnnOptions& options) {
  RETURN_IF_ERROR(CheckArguments(dims, options));
  auto impl = std::make_unique<Impl>(dims);
  impl->options = options;
  try {
    impl->graph = std::make_unique<hnswlib::HierarchicalNSW<float>>(
        &impl->space, 1024, static_cast<size_t>(options.m),
        static_cast<size_t>(options.ef_construction));
    impl->graph->setEf(static_cast<size_t>(options.ef_search));
  } catch (const std::exception& e) {
    return Status::Internal(std::string("cannot create the ANN index: ") + e.what());
  }
  return std::unique_ptr<AnnIndex>(new AnnIndex(dims, std::move(impl)));
}

Result<std::unique_ptr<AnnIndex>> AnnIndex::Load(const std::string& stem, int dims,
                                                 const AnnOptions& options) {
  RETURN_IF_ERROR(CheckArguments(dims, options));
  const std::vector<fs::path> files = SavedFiles(stem);
  if (files.empty()) return Status::NotFound("no saved search index beside " + stem);
  const std::string path = files.front().string();
  ASSIGN_OR_RETURN(const std::string digest, Sha256HexOfFile(path));
  if (digest != DigestInName(files.front()))
    return Status::InvalidArgument(path + " does not match the checksum in its name");
  auto impl = std::make_unique<Impl>(dims);
  impl->options = options;
  try {
    impl->graph = std::make_unique<hnswlib::HierarchicalNSW<float>>(&impl->space, path);
  } catch (const std::bad_alloc&) {
    return Status::Internal("out of memory loading the search index " + path);
  } catch (const std::exception& e) {
    return Status::InvalidArgument("cannot load the search index " + path + ": " + e.what());
  }
  auto& g = *impl->graph;
  if (g.M_ != static_cast<size_t>(options.m) ||
      g.ef_construction_ != static_cast<size_t>(options.ef_construction) ||
      g.label_offset_ - g.offsetData_ != CodeBytes(impl->dims))
    return Status::InvalidArgument(
        path + " was built with M " + std::to_string(g.M_) + ", ef_construction " +
        std::to_string(g.ef_construction_) + " and " +
        std::to_string(g.label_offset_ - g.offsetData_) + "-byte vectors, not M " +
        std::to_string(options.m) + ", " + std::to_string(options.ef_construction) + " and " +
        std::to_string(CodeBytes(impl->dims)));
  // hnswlib's loading constructor counts deletions onto an uninitialised field.
  g.num_deleted_ = 0;
  for (size_t i = 0; i < g.cur_element_count; ++i)
    if (g.isMarkedDeleted(static_cast<hnswlib::tableint>(i))) ++g.num_deleted_;
  impl->removed = g.num_deleted_;
  impl->live = g.label_lookup_.size() - impl->removed;
  g.setEf(static_cast<size_t>(options.ef_search));
  return std::unique_ptr<AnnIndex>(new AnnIndex(dims, std::move(impl)));
}

Status AnnIndex::Build(const int64_t* ids, size_t count,
                       const std::function<void(size_t, float*)>& vector_of) {
  try {
    impl_->Reserve(count);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("ANN index: ") + e.what());
  }
  // hnswlib's addPoint is safe from several threads (per-node locks).
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::string error;
  std::mutex error_mu;
  const auto work = [&] {
    std::vector<float> unit(impl_->dims);
    std::vector<char> code(CodeBytes(impl_->dims));
    for (size_t i = next++; i < count && !failed; i = next++) {
      try {
        vector_of(i, unit.data());
        EncodeUnit(unit.data(), impl_->dims, code.data());
        impl_->graph->addPoint(code.data(), static_cast<hnswlib::labeltype>(ids[i]));
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(error_mu);
        error = e.what();
        failed = true;
      }
    }
  };
  const int threads = std::max(1, impl_->options.build_threads);
  std::vector<std::thread> pool;
  for (int t = 1; t < threads && count > 1024; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  impl_->dirty = true;
  if (failed) return Status::Internal("ANN index: " + error);
  impl_->live += count;
  return Status::Ok();
}

Status AnnIndex::Add(int64_t id, const float* unit) {
  const auto label = static_cast<hnswlib::labeltype>(id);
  try {
    auto& lookup = impl_->graph->label_lookup_;
    const auto it = lookup.find(label);
    if (it != lookup.end()) {
      // hnswlib revives a removed label when it is added again.
      if (impl_->graph->isMarkedDeleted(it->second)) {
        --impl_->removed;
        ++impl_->live;
      }
    } else {
      impl_->Reserve(1);
      ++impl_->live;
    }
    std::vector<char> code(CodeBytes(impl_->dims));
    EncodeUnit(unit, impl_->dims, code.data());
    impl_->dirty = true;
    impl_->graph->addPoint(code.data(), label);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("ANN index: ") + e.what());
  }
  return Status::Ok();
}

void AnnIndex::Remove(int64_t id) {
  auto& lookup = impl_->graph->label_lookup_;
  const auto it = lookup.find(static_cast<hnswlib::labeltype>(id));
  if (it == lookup.end() || impl_->graph->isMarkedDeleted(it->second)) return;
  impl_->graph->markDeletedInternal(it->second);
  impl_->dirty = true;
  --impl_->live;
  ++impl_->removed;
}

std::vector<std::pair<int64_t, float>> AnnIndex::Search(const float* q, size_t k) const {
  std::vector<std::pair<int64_t, float>> out;
  if (k == 0 || impl_->live == 0) return out;
  std::vector<char> code(CodeBytes(impl_->dims));
  EncodeUnit(q, impl_->dims, code.data());
  auto found = impl_->graph->searchKnn(code.data(), std::min(k, impl_->live));
  out.resize(found.size());
  // The queue pops the farthest first.
  for (size_t i = out.size(); i-- > 0; found.pop())
    out[i] = {static_cast<int64_t>(found.top().second), 1.f - found.top().first};
  return out;
}

void AnnIndex::SetEfSearch(int ef_search) {
  impl_->graph->setEf(static_cast<size_t>(std::max(1, ef_search)));
}

Status AnnIndex::Save(const std::string& stem) {
  const std::string temp = stem + kTempTail + std::to_string(::getpid());
  std::error_code ec;
  const auto fail = [&](const std::string& why) {
    fs::remove(temp, ec);
    return Status::IoError("cannot save the search index as " + stem + ": " + why);
  };
  try {
    impl_->graph->saveIndex(temp);
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  const uintmax_t written = fs::file_size(temp, ec);
  if (ec) return fail(ec.message());
  if (written != impl_->SavedBytes()) return fail("short write (is the disk full?)");
  Result<std::string> digest = Sha256HexOfFile(temp);
  if (!digest.ok()) return fail(digest.status().message());
  if (Status synced = SyncPath(temp); !synced.ok()) return fail(synced.message());
  const std::string path = stem + "." + *digest + kSaveSuffix;
  if (::rename(temp.c_str(), path.c_str()) != 0) return fail(std::strerror(errno));
  RETURN_IF_ERROR(SyncPath(FolderOf(stem).string()));
  for (const fs::path& earlier : SavedFiles(stem))
    if (earlier.filename() != fs::path(path).filename()) fs::remove(earlier, ec);
  RemoveAbandonedTemps(stem);
  impl_->dirty = false;
  return Status::Ok();
}

bool AnnIndex::dirty() const { return impl_->dirty; }

std::vector<int64_t> AnnIndex::Ids() const {
  std::vector<int64_t> ids;
  ids.reserve(impl_->live);
  for (const auto& [label, internal] : impl_->graph->label_lookup_)
    if (!impl_->graph->isMarkedDeleted(internal)) ids.push_back(static_cast<int64_t>(label));
  return ids;
}

float AnnIndex::Dot(int64_t id, const float* q) const {
  const char* code = impl_->CodeOf(id);
  return code ? CodeDot(code, q, impl_->dims) : 0.f;
}

bool AnnIndex::Decode(int64_t id, float* out) const {
  const char* code = impl_->CodeOf(id);
  if (code == nullptr) return false;
  DecodeUnit(code, impl_->dims, out);
  return true;
}

bool AnnIndex::Holds(int64_t id, const float* unit) const {
  const char* code = impl_->CodeOf(id);
  if (code == nullptr) return false;
  std::vector<char> wanted(CodeBytes(impl_->dims));
  EncodeUnit(unit, impl_->dims, wanted.data());
  return std::memcmp(code, wanted.data(), wanted.size()) == 0;
}

size_t AnnIndex::size() const { return impl_->live; }
size_t AnnIndex::removed() const { return impl_->removed; }

size_t AnnIndex::bytes() const {
  const auto& g = *impl_->graph;
  const size_t used = g.cur_element_count;
  size_t upper_links = 0;
  for (size_t i = 0; i < used; ++i)
    upper_links += static_cast<size_t>(g.element_levels_[i]) * g.size_links_per_element_;
  // Per slot of capacity: its lock, level and upper-link pointer; per id: a
  // hash node (next pointer, key, value and malloc's header: 32 bytes).
  const size_t per_slot = sizeof(std::mutex) + sizeof(int) + sizeof(void*);
  const size_t label_map =
      g.label_lookup_.bucket_count() * sizeof(void*) + g.label_lookup_.size() * 32;
  return used * g.size_data_per_element_ + upper_links + g.max_elements_ * per_slot + label_map;
}

}  // namespace concierge
