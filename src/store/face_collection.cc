#include "store/face_collection.h"

#include <malloc.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <unordered_map>
#include <utility>

#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/vector_clones.h"
#include "store/sqlite_face_repository.h"
#include "store/vector_codes.h"

namespace concierge {

static_assert(std::endian::native == std::endian::little,
              "embedding blobs are float32 little-endian and copied as is");

namespace {

constexpr int kMaxDims = 65536;
constexpr size_t kMaxTextBytes = 256;

// Dot product with independent partial sums: without -ffast-math the compiler
// may not reorder one running sum, but it vectorises these lanes as is.
CONCIERGE_VECTOR_CLONES float Dot(const float* a, const float* b, int n) {
  constexpr int kLanes = 16;
  float acc[kLanes] = {};
  int i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += a[i + l] * b[i + l];
  float sum = 0;
  for (; i < n; ++i) sum += a[i] * b[i];
  for (const float v : acc) sum += v;
  return sum;
}

// `v` scaled to unit length, or kInvalidArgument (wrong size, non-finite, zero).
Result<Embedding> UnitVector(const Embedding& v, const VectorSpace& space) {
  if (v.size() != static_cast<size_t>(space.dims))
    return Status::InvalidArgument("embedding of model " + space.model + " has " +
                                   std::to_string(v.size()) + " values, collection needs " +
                                   std::to_string(space.dims));
  double norm2 = 0;
  for (const float x : v) norm2 += static_cast<double>(x) * x;
  if (!std::isfinite(norm2) || norm2 <= 0)
    return Status::InvalidArgument("embedding is zero or not finite");
  const double inv = 1.0 / std::sqrt(norm2);
  Embedding unit(v.size());
  for (size_t i = 0; i < v.size(); ++i) unit[i] = static_cast<float>(v[i] * inv);
  return unit;
}

Status CheckText(const std::string& text, const char* what) {
  if (text.size() > kMaxTextBytes)
    return Status::InvalidArgument(std::string(what) + " is longer than " +
                                   std::to_string(kMaxTextBytes) + " bytes");
  for (const char c : text)
    if (static_cast<unsigned char>(c) < 0x20)
      return Status::InvalidArgument(std::string(what) + " contains a control character");
  return Status::Ok();
}

std::string Quoted(const std::string& s) { return "'" + s + "'"; }

// The spaces' unit vectors as the Descriptor the repository stores.
Descriptor ToDescriptor(const std::vector<VectorSpace>& spaces,
                        const std::vector<Embedding>& units) {
  Descriptor d;
  for (size_t s = 0; s < spaces.size(); ++s) d.push_back({spaces[s].model, units[s]});
  return d;
}

}  // namespace

SearchIndexOptions SearchIndexOptionsFor(const Config& config) {
  const RecognitionConfig& recognition = config.recognition;
  SearchIndexOptions options;
  options.ann_min_faces = static_cast<size_t>(std::max(0, recognition.ann_min_faces));
  options.ann.ef_search = std::max(1, recognition.ann_ef_search);
  options.ann.m = recognition.ann_m;
  options.ann.ef_construction = recognition.ann_ef_construction;
  options.save_dir = config.IndexDir();
  return options;
}

Result<SearchMode> ParseSearchMode(const std::string& text) {
  if (text == "best") return SearchMode::kBestFace;
  if (text == "centroid") return SearchMode::kCentroid;
  return Status::InvalidArgument("unknown search mode " + Quoted(text) +
                                 " (expected best or centroid)");
}

Status ValidateStoreId(const std::string& id) {
  if (id.empty() || id.size() > 128)
    return Status::InvalidArgument("id " + Quoted(id) + " must be 1 to 128 characters");
  if (id == "." || id == "..") return Status::InvalidArgument("id " + Quoted(id) + " is reserved");
  for (const char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok)
      return Status::InvalidArgument("id " + Quoted(id) +
                                     " may only hold letters, digits, '.', '_' and '-'");
  }
  return Status::Ok();
}

FaceCollection::FaceCollection(std::unique_ptr<FaceRepository> repository,
                               std::vector<VectorSpace> spaces, SearchIndexOptions index)
    : repo_(std::move(repository)),
      name_(repo_ ? repo_->collection() : ""),
      spaces_(std::move(spaces)),
      index_options_(index),
      space_data_(spaces_.size()) {}

Result<std::unique_ptr<FaceCollection>> FaceCollection::Open(
    std::unique_ptr<FaceRepository> repository, std::vector<VectorSpace> spaces,
    SearchIndexOptions index) {
  if (repository == nullptr) return Status::InvalidArgument("no face repository given");
  if (Status st = ValidateStoreId(repository->collection()); !st.ok())
    return Status::InvalidArgument("collection name: " + st.message());
  if (spaces.empty()) return Status::InvalidArgument("a collection needs at least one model");
  std::set<std::string> names;
  for (const VectorSpace& space : spaces) {
    if (space.dims < 1 || space.dims > kMaxDims)
      return Status::InvalidArgument("embedding dims must be 1.." + std::to_string(kMaxDims) +
                                     ", got " + std::to_string(space.dims));
    if (space.model.empty() || !names.insert(space.model).second)
      return Status::InvalidArgument("model names must be distinct and non-empty");
  }
  if (index.ann_min_faces > 0) RETURN_IF_ERROR(AnnIndex::Create(1, index.ann).status());
  std::unique_ptr<FaceCollection> fc(
      new FaceCollection(std::move(repository), std::move(spaces), index));
  RETURN_IF_ERROR(fc->repo_->EnsureCollection());
  std::lock_guard<std::mutex> write(fc->write_mu_);
  RETURN_IF_ERROR(fc->Reload(/*use_saved_index=*/true));
  return fc;
}

Result<std::unique_ptr<FaceCollection>> FaceCollection::Open(Database* db,
                                                             const std::string& collection,
                                                             std::vector<VectorSpace> spaces,
                                                             SearchIndexOptions index) {
  if (db == nullptr) return Status::InvalidArgument("no database given");
  return Open(NewSqliteFaceRepository(db, collection), std::move(spaces), index);
}

Result<bool> FaceCollection::Refresh() {
  std::lock_guard<std::mutex> write(write_mu_);
  ASSIGN_OR_RETURN(const int64_t token, repo_->ChangeToken());
  if (token == change_token_) return false;
  RETURN_IF_ERROR(Reload());
  return true;
}

Status FaceCollection::Reload(bool use_saved_index) {
  RETURN_IF_ERROR(LoadMirror(use_saved_index && !ann_ ? ReadSavedIndex() : nullptr));
  UpdateIndex();
  // The load freed what it read row by row: without a trim glibc keeps
  // those holes in the heap resident.
  malloc_trim(0);
  return Status::Ok();
}

Status FaceCollection::LoadMirror(std::unique_ptr<AnnIndex> saved) {
  // The token first: a change committed during the load shows at the next Refresh.
  ASSIGN_OR_RETURN(const int64_t token, repo_->ChangeToken());
  // With an index (the live one, or the saved one at start) the mirror is
  // read compact: the index keeps the primary vectors, the others are
  // encoded as they stream, and no float matrix is built.
  if (AnnIndex* index = ann_ ? ann_.get() : saved.get()) {
    const auto start = std::chrono::steady_clock::now();
    FaceCollection fresh(nullptr, spaces_, {});
    IndexEdits edits;
    RETURN_IF_ERROR(fresh.Install(*repo_, index, &edits));
    if (!edits.TooLarge(fresh.face_ids_.size())) {
      std::unique_lock<std::shared_mutex> lock(mu_);
      Status applied = Status::Ok();
      for (const auto& [id, unit] : edits.changed) {
        applied = index->Add(id, unit.data());
        if (!applied.ok()) break;
      }
      if (applied.ok()) {
        for (const int64_t id : edits.gone) index->Remove(id);
        if (saved) {
          spdlog::info("collection {}: saved HNSW index of {} faces loaded in {:.1f} s ({} faces "
                       "added or changed since, {} gone)",
                       name_, saved->size(),
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                       edits.changed.size(), edits.gone.size());
          ann_ = std::move(saved);
        }
        SwapMirror(fresh, token);
        for (uint32_t p = 0; p < persons_.size(); ++p) RecomputeCentroid(p);
        return Status::Ok();
      }
      spdlog::warn("collection {}: {}; searching exactly", name_, applied.message());
      if (!saved) {
        // The live mirror scores with the index it just broke: it is replaced
        // exactly before searches go on.
        ann_.reset();
        return LoadExactLocked(token);
      }
    } else {
      spdlog::info("collection {}: the {} index is over a quarter out of date; building it anew",
                   name_, saved ? "saved" : "kept");
    }
  }
  FaceCollection fresh(nullptr, spaces_, {});
  RETURN_IF_ERROR(fresh.Install(*repo_, nullptr, nullptr));
  std::unique_lock<std::shared_mutex> lock(mu_);
  SwapMirror(fresh, token);
  ann_.reset();  // none, or out of date: UpdateIndex builds a new one from the matrix
  return Status::Ok();
}

Status FaceCollection::LoadExactLocked(int64_t token) {
  FaceCollection fresh(nullptr, spaces_, {});
  Status installed = fresh.Install(*repo_, nullptr, nullptr);
  if (installed.ok()) {
    SwapMirror(fresh, token);
    return Status::Ok();
  }
  // Nothing left to score with: an empty mirror until the next Refresh reloads.
  FaceCollection empty(nullptr, spaces_, {});
  SwapMirror(empty, -1);
  return installed;
}

void FaceCollection::SwapMirror(FaceCollection& fresh, int64_t token) {
  persons_.swap(fresh.persons_);
  person_index_.swap(fresh.person_index_);
  space_data_.swap(fresh.space_data_);
  face_ids_.swap(fresh.face_ids_);
  face_person_.swap(fresh.face_person_);
  row_of_.swap(fresh.row_of_);
  stored_faces_ = fresh.stored_faces_;
  change_token_ = token;
  ++generation_;
}

void FaceCollection::UpdateIndex() {
  // Only writers change the mirror and ann_, and they hold write_mu_: reading without mu_ is safe.
  const size_t faces = face_ids_.size();
  const size_t threshold = index_options_.ann_min_faces;
  if (ann_ && (threshold == 0 || faces * 2 < threshold)) {
    std::unique_lock<std::shared_mutex> lock(mu_);
    DropIndex();
    return;
  }
  const bool wanted = threshold > 0 && faces >= threshold;
  const bool worn = ann_ && ann_->removed() > std::max<size_t>(ann_->size(), 1024);
  if (!(wanted && !ann_) && !worn) return;
  // Built without mu_: searches go on (exactly, or on the old index) meanwhile.
  const auto start = std::chrono::steady_clock::now();
  Result<std::unique_ptr<AnnIndex>> built = AnnIndex::Create(spaces_[0].dims, index_options_.ann);
  if (built.ok()) {
    // From the matrix, or for a rebuild from the worn index.
    const auto row = [this](size_t r, float* out) { CopyRow(0, static_cast<uint32_t>(r), out); };
    if (Status st = (*built)->Build(face_ids_.data(), faces, row); !st.ok()) built = st;
  }
  if (!built.ok()) {
    spdlog::warn("collection {}: no HNSW index ({}); searching exactly", name_,
                 built.status().message());
    return;
  }
  spdlog::info("collection {}: HNSW index of {} faces built in {:.1f} s", name_, faces,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    const bool was_compact = worn;  // a rebuild: the other spaces hold codes already
    ann_ = std::move(built).value();
    if (!was_compact) Compact();
  }
  // Searches go on while it is written.
  if (Status saved = SaveIndexLocked(); !saved.ok())
    spdlog::warn("collection {}: {}; the next start builds the index again", name_,
                 saved.message());
}

std::string FaceCollection::IndexStem() const {
  // Model names are free text; the file name keeps what is safe in it.
  std::string model = spaces_[0].model;
  for (char& c : model)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  return (std::filesystem::path(index_options_.save_dir) / (name_ + "." + model)).string();
}

std::unique_ptr<AnnIndex> FaceCollection::ReadSavedIndex() const {
  if (index_options_.ann_min_faces == 0 || index_options_.save_dir.empty()) return nullptr;
  Result<std::unique_ptr<AnnIndex>> loaded =
      AnnIndex::Load(IndexStem(), spaces_[0].dims, index_options_.ann);
  if (!loaded.ok()) {
    if (loaded.status().code() != Status::Code::kNotFound)
      spdlog::warn("collection {}: {}; building the index anew", name_,
                   loaded.status().message());
    return nullptr;
  }
  return std::move(loaded).value();
}

Status FaceCollection::SaveIndex() {
  std::lock_guard<std::mutex> write(write_mu_);
  return SaveIndexLocked();
}

Status FaceCollection::SaveIndexLocked() {
  if (!ann_ || !ann_->dirty() || index_options_.save_dir.empty()) return Status::Ok();
  std::error_code ec;
  std::filesystem::create_directories(index_options_.save_dir, ec);
  if (ec)
    return Status::IoError("cannot create " + index_options_.save_dir + ": " + ec.message());
  return ann_->Save(IndexStem());
}

void FaceCollection::Compact() {
  for (size_t s = 0; s < spaces_.size(); ++s) {
    Space& space = space_data_[s];
    const size_t d = static_cast<size_t>(spaces_[s].dims);
    if (s > 0) {
      space.codes.resize(face_ids_.size() * CodeBytes(d));
      for (size_t r = 0; r < face_ids_.size(); ++r)
        EncodeUnit(space.matrix.data() + r * d, d, space.codes.data() + r * CodeBytes(d));
    }
    std::vector<float>().swap(space.matrix);
    std::vector<float>().swap(space.centroids);
    space.centroid_scale.assign(persons_.size(), 0.f);
  }
  for (uint32_t p = 0; p < persons_.size(); ++p) RecomputeCentroid(p);
}

void FaceCollection::DropIndex() {
  if (!ann_) return;
  for (size_t s = 0; s < spaces_.size(); ++s) {
    const size_t d = static_cast<size_t>(spaces_[s].dims);
    std::vector<float> matrix(face_ids_.size() * d);
    for (uint32_t r = 0; r < face_ids_.size(); ++r) CopyRow(s, r, matrix.data() + r * d);
    space_data_[s].matrix.swap(matrix);
  }
  ann_.reset();
  for (size_t s = 0; s < spaces_.size(); ++s) {
    Space& space = space_data_[s];
    std::vector<char>().swap(space.codes);
    std::vector<float>().swap(space.centroid_scale);
    space.centroids.assign(persons_.size() * static_cast<size_t>(spaces_[s].dims), 0.f);
  }
  for (uint32_t p = 0; p < persons_.size(); ++p) RecomputeCentroid(p);
}

const float* FaceCollection::Row(size_t s, uint32_t row) const {
  return space_data_[s].matrix.data() + row * static_cast<size_t>(spaces_[s].dims);
}

float FaceCollection::RowDot(size_t s, uint32_t row, const float* q) const {
  const size_t d = static_cast<size_t>(spaces_[s].dims);
  if (!ann_) return Dot(Row(s, row), q, spaces_[s].dims);
  if (s == 0) return ann_->Dot(face_ids_[row], q);
  return CodeDot(space_data_[s].codes.data() + row * CodeBytes(d), q, d);
}

void FaceCollection::CopyRow(size_t s, uint32_t row, float* out) const {
  const size_t d = static_cast<size_t>(spaces_[s].dims);
  if (!ann_) {
    std::copy_n(Row(s, row), d, out);
  } else if (s == 0) {
    ann_->Decode(face_ids_[row], out);
  } else {
    DecodeUnit(space_data_[s].codes.data() + row * CodeBytes(d), d, out);
  }
}

void FaceCollection::CopyCentroid(size_t s, uint32_t p, float* out) const {
  const size_t d = static_cast<size_t>(spaces_[s].dims);
  if (!ann_) {
    std::copy_n(space_data_[s].centroids.data() + p * d, d, out);
    return;
  }
  std::fill_n(out, d, 0.f);
  std::vector<float> v(d);
  for (const uint32_t r : persons_[p].rows) {
    CopyRow(s, r, v.data());
    for (size_t i = 0; i < d; ++i) out[i] += v[i];
  }
  for (size_t i = 0; i < d; ++i) out[i] *= space_data_[s].centroid_scale[p];
}

Status FaceCollection::Install(FaceRepository& repo, const AnnIndex* index, IndexEdits* edits) {
  FaceSnapshot head;
  bool persons_in = false;
  auto add_persons = [&] {
    // Room for every face at once: growing by doubling would hold the
    // matrices twice, briefly.
    const auto faces = static_cast<size_t>(head.face_count);
    for (size_t s = 0; s < spaces_.size(); ++s) {
      const auto d = static_cast<size_t>(spaces_[s].dims);
      if (!index) space_data_[s].matrix.reserve(faces * d);
      else if (s > 0) space_data_[s].codes.reserve(faces * CodeBytes(d));
    }
    face_ids_.reserve(faces);
    face_person_.reserve(faces);
    row_of_.reserve(faces);
    for (const Person& p : head.persons) {
      person_index_.emplace(p.id, static_cast<uint32_t>(persons_.size()));
      persons_.push_back({p, {}});
    }
    persons_in = true;
  };
  auto owner = [&](int64_t row, const std::string& person_id) -> Result<uint32_t> {
    const auto it = person_index_.find(person_id);
    if (it == person_index_.end())
      return Status::IoError("row " + std::to_string(row) + " of collection " + Quoted(name_) +
                             " refers to a missing person");
    return it->second;
  };
  // The head is complete before the first face arrives.
  RETURN_IF_ERROR(repo.Load(spaces_, &head, [&](StoredFace& face) -> Status {
    if (!persons_in) add_persons();
    ASSIGN_OR_RETURN(const uint32_t p, owner(face.id, face.person_id));
    AddRowToMirror(face.id, p, face.units, /*compact=*/index != nullptr);
    if (index && !index->Holds(face.id, face.units[0].data()))
      edits->changed.emplace_back(face.id, std::move(face.units[0]));
    return Status::Ok();
  }));
  if (!persons_in) add_persons();
  if (index) {
    for (const int64_t id : index->Ids())
      if (!row_of_.count(id)) edits->gone.push_back(id);
  }
  std::unordered_map<std::string, size_t> space_of;
  for (size_t s = 0; s < spaces_.size(); ++s) {
    space_of.emplace(spaces_[s].model, s);
    // Compact: the owner computes the scales once the index is its own.
    if (index) space_data_[s].centroid_scale.assign(persons_.size(), 0.f);
    else space_data_[s].centroids.assign(persons_.size() * static_cast<size_t>(spaces_[s].dims), 0.f);
  }
  for (const StoredVector& negative : head.negatives) {
    const auto it = space_of.find(negative.model);
    if (it == space_of.end()) continue;
    ASSIGN_OR_RETURN(const uint32_t p, owner(negative.id, negative.person_id));
    Space& space = space_data_[it->second];
    space.negative_person.push_back(p);
    space.negatives.insert(space.negatives.end(), negative.unit.begin(), negative.unit.end());
  }
  if (!index)
    for (uint32_t p = 0; p < persons_.size(); ++p) RecomputeCentroid(p);
  stored_faces_ = head.face_count;
  return Status::Ok();
}

Result<uint32_t> FaceCollection::PersonIndex(const std::string& id) const {
  const auto it = person_index_.find(id);
  if (it == person_index_.end())
    return Status::NotFound("person " + Quoted(id) + " not found in collection " +
                            Quoted(name_));
  return it->second;
}

// ---- persons ----

Status FaceCollection::AddPerson(const Person& person) {
  RETURN_IF_ERROR(ValidateStoreId(person.id));
  RETURN_IF_ERROR(CheckText(person.display_name, "display name"));
  RETURN_IF_ERROR(CheckText(person.external_id, "external id"));
  Person stored = person;
  if (stored.display_name.empty()) stored.display_name = stored.id;
  if (stored.created_ms == 0) stored.created_ms = NowMs();

  std::lock_guard<std::mutex> write(write_mu_);
  if (person_index_.count(stored.id))
    return Status::AlreadyExists("person " + Quoted(stored.id) + " already exists in collection " +
                                 Quoted(name_));
  if (!stored.external_id.empty()) {
    if (const auto owner = FindByExternalId(stored.external_id); owner.ok())
      return Status::AlreadyExists("external id " + Quoted(stored.external_id) +
                                   " already belongs to person " + Quoted(owner->id));
  }
  RETURN_IF_ERROR(repo_->InsertPerson(stored));

  std::unique_lock<std::shared_mutex> lock(mu_);
  person_index_.emplace(stored.id, static_cast<uint32_t>(persons_.size()));
  persons_.push_back({std::move(stored), {}});
  for (size_t s = 0; s < spaces_.size(); ++s) {
    Space& space = space_data_[s];
    if (ann_) {
      space.centroid_scale.push_back(0.f);
    } else {
      space.centroids.resize(space.centroids.size() + static_cast<size_t>(spaces_[s].dims), 0.f);
    }
  }
  return Status::Ok();
}

Result<Person> FaceCollection::GetPerson(const std::string& id) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  ASSIGN_OR_RETURN(const uint32_t p, PersonIndex(id));
  return persons_[p].person;
}

Result<std::vector<Person>> FaceCollection::ListPersons() const {
  std::vector<Person> out;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    out.reserve(persons_.size());
    for (const auto& entry : persons_) out.push_back(entry.person);
  }
  std::sort(out.begin(), out.end(), [](const Person& a, const Person& b) { return a.id < b.id; });
  return out;
}

Status FaceCollection::RenamePerson(const std::string& id, const std::string& display_name) {
  if (display_name.empty()) return Status::InvalidArgument("display name is empty");
  RETURN_IF_ERROR(CheckText(display_name, "display name"));
  std::lock_guard<std::mutex> write(write_mu_);
  ASSIGN_OR_RETURN(const uint32_t p, PersonIndex(id));
  Person updated = persons_[p].person;
  updated.display_name = display_name;
  RETURN_IF_ERROR(repo_->UpdatePerson(updated));
  std::unique_lock<std::shared_mutex> lock(mu_);
  persons_[p].person.display_name = display_name;
  return Status::Ok();
}

Status FaceCollection::SetPreferences(const std::string& id,
                                      const PersonPreferences& preferences) {
  if (preferences.host == id)
    return Status::InvalidArgument("a person cannot be their own host");
  std::lock_guard<std::mutex> write(write_mu_);
  ASSIGN_OR_RETURN(const uint32_t p, PersonIndex(id));
  if (!preferences.host.empty()) RETURN_IF_ERROR(PersonIndex(preferences.host).status());
  Person updated = persons_[p].person;
  updated.preferences = preferences;
  RETURN_IF_ERROR(repo_->UpdatePerson(updated));
  std::unique_lock<std::shared_mutex> lock(mu_);
  persons_[p].person.preferences = preferences;
  return Status::Ok();
}

Status FaceCollection::SetExternalId(const std::string& id, const std::string& external_id) {
  RETURN_IF_ERROR(CheckText(external_id, "external id"));
  std::lock_guard<std::mutex> write(write_mu_);
  ASSIGN_OR_RETURN(const uint32_t p, PersonIndex(id));
  if (!external_id.empty()) {
    if (const auto owner = FindByExternalId(external_id); owner.ok() && owner->id != id)
      return Status::AlreadyExists("external id " + Quoted(external_id) +
                                   " already belongs to person " + Quoted(owner->id));
  }
  Person updated = persons_[p].person;
  updated.external_id = external_id;
  RETURN_IF_ERROR(repo_->UpdatePerson(updated));
  std::unique_lock<std::shared_mutex> lock(mu_);
  persons_[p].person.external_id = external_id;
  return Status::Ok();
}

Result<Person> FaceCollection::FindByExternalId(const std::string& external_id) const {
  if (external_id.empty()) return Status::InvalidArgument("external id is empty");
  std::shared_lock<std::shared_mutex> lock(mu_);
  for (const auto& entry : persons_)
    if (entry.person.external_id == external_id) return entry.person;
  return Status::NotFound("no person with external id " + Quoted(external_id) +
                          " in collection " + Quoted(name_));
}

// ---- faces ----

Result<std::vector<Embedding>> FaceCollection::CheckEmbeddings(const Descriptor& embeddings) const {
  std::vector<Embedding> units;
  for (const VectorSpace& space : spaces_) {
    const Embedding* v = FindEmbedding(embeddings, space.model);
    if (v == nullptr)
      return Status::InvalidArgument("face has no embedding of model " + space.model);
    ASSIGN_OR_RETURN(Embedding unit, UnitVector(*v, space));
    units.push_back(std::move(unit));
  }
  return units;
}

Result<std::vector<Embedding>> FaceCollection::CheckFace(const FaceRecord& face) const {
  if (!face.collection.empty() && face.collection != name_)
    return Status::InvalidArgument("face is for collection " + Quoted(face.collection) +
                                   ", not " + Quoted(name_));
  RETURN_IF_ERROR(CheckText(face.image_key, "image key"));
  if (!std::isfinite(face.quality) || !std::isfinite(face.box.x) || !std::isfinite(face.box.y) ||
      !std::isfinite(face.box.w) || !std::isfinite(face.box.h))
    return Status::InvalidArgument("face quality or box is not finite");
  RETURN_IF_ERROR(PersonIndex(face.person_id).status());
  return CheckEmbeddings(face.embeddings);
}

Result<int64_t> FaceCollection::AddFace(const FaceRecord& face) {
  ASSIGN_OR_RETURN(const std::vector<int64_t> ids, AddFaces({face}));
  return ids.front();
}

Result<std::vector<int64_t>> FaceCollection::AddFaces(const std::vector<FaceRecord>& faces) {
  if (faces.empty()) return std::vector<int64_t>{};
  std::lock_guard<std::mutex> write(write_mu_);
  std::vector<std::vector<Embedding>> units;
  units.reserve(faces.size());
  for (const auto& face : faces) {
    ASSIGN_OR_RETURN(std::vector<Embedding> unit, CheckFace(face));
    units.push_back(std::move(unit));
  }

  const int64_t now = NowMs();
  std::vector<FaceRecord> stored = faces;
  for (size_t i = 0; i < stored.size(); ++i) {
    stored[i].collection = name_;
    stored[i].embeddings = ToDescriptor(spaces_, units[i]);
    if (stored[i].created_ms == 0) stored[i].created_ms = now;
  }
  ASSIGN_OR_RETURN(const std::vector<int64_t> ids, repo_->InsertFaces(stored));

  std::unique_lock<std::shared_mutex> lock(mu_);
  std::set<uint32_t> touched;
  for (size_t i = 0; i < faces.size(); ++i) {
    const uint32_t p = person_index_.at(faces[i].person_id);
    AppendRow(ids[i], p, units[i]);
    touched.insert(p);
  }
  for (const uint32_t p : touched) RecomputeCentroid(p);
  stored_faces_ += static_cast<int64_t>(faces.size());
  ++generation_;
  lock.unlock();
  UpdateIndex();
  return ids;
}

Result<std::vector<FaceRecord>> FaceCollection::ListFaces(const std::string& person_id) const {
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    RETURN_IF_ERROR(PersonIndex(person_id).status());
  }
  return repo_->ListFaces(person_id);
}

Result<std::vector<FaceRecord>> FaceCollection::ListAllFaces() const {
  return repo_->ListFaces("");
}

Result<std::vector<std::string>> FaceCollection::ListImageKeys() const {
  return repo_->ListImageKeys();
}

Status FaceCollection::DeleteFace(int64_t face_id) {
  std::lock_guard<std::mutex> write(write_mu_);
  ASSIGN_OR_RETURN(const bool deleted, repo_->DeleteFace(face_id));
  if (!deleted)
    return Status::NotFound("face " + std::to_string(face_id) + " not found in collection " +
                            Quoted(name_));
  std::unique_lock<std::shared_mutex> lock(mu_);
  --stored_faces_;
  ++generation_;
  const auto it = row_of_.find(face_id);
  if (it == row_of_.end()) return Status::Ok();  // stale, or added by another process
  const uint32_t row = it->second;
  const uint32_t p = face_person_[row];
  RemoveRow(row);
  RecomputeCentroid(p);
  lock.unlock();
  UpdateIndex();
  return Status::Ok();
}

Result<bool> FaceCollection::ClearImageKey(int64_t face_id, const std::string& image_key) {
  std::lock_guard<std::mutex> write(write_mu_);
  return repo_->ClearImageKey(face_id, image_key);
}

Status FaceCollection::ReplaceEmbeddings(const FaceRecord& face, const Descriptor& embeddings) {
  std::lock_guard<std::mutex> write(write_mu_);
  ASSIGN_OR_RETURN(const std::vector<Embedding> units, CheckEmbeddings(embeddings));
  ASSIGN_OR_RETURN(const uint32_t p, PersonIndex(face.person_id));
  ASSIGN_OR_RETURN(const bool replaced,
                   repo_->ReplaceEmbeddings(face.id, ToDescriptor(spaces_, units)));
  if (!replaced)
    return Status::NotFound("face " + std::to_string(face.id) + " not found in collection " +
                            Quoted(name_));
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (const auto it = row_of_.find(face.id); it != row_of_.end()) {
    const uint32_t row = it->second;
    const uint32_t owner = face_person_[row];
    RemoveRow(row);
    if (owner != p) RecomputeCentroid(owner);
  }
  AppendRow(face.id, p, units);
  RecomputeCentroid(p);
  ++generation_;
  lock.unlock();
  UpdateIndex();
  return Status::Ok();
}

Result<std::vector<std::string>> FaceCollection::ForgetPerson(const std::string& id) {
  std::lock_guard<std::mutex> write(write_mu_);
  ASSIGN_OR_RETURN(const uint32_t p, PersonIndex(id));
  ASSIGN_OR_RETURN(std::vector<std::string> image_keys, repo_->DeletePerson(id));
  FaceSnapshot counts;
  RETURN_IF_ERROR(repo_->Load({}, &counts, [](StoredFace&) { return Status::Ok(); }));
  std::unique_lock<std::shared_mutex> lock(mu_);
  RemovePerson(p);
  stored_faces_ = counts.face_count;
  ++generation_;
  lock.unlock();
  UpdateIndex();
  return image_keys;
}

Result<int64_t> FaceCollection::MergePerson(const std::string& from, const std::string& into,
                                            const std::map<std::string, std::string>& image_keys) {
  if (from == into) return Status::InvalidArgument("cannot merge a person into themselves");
  std::lock_guard<std::mutex> write(write_mu_);
  ASSIGN_OR_RETURN(const int64_t moved, repo_->MergePerson(from, into, image_keys));
  // Rare enough that reloading beats editing every space's rows in place.
  RETURN_IF_ERROR(Reload());
  return moved;
}

Status FaceCollection::AddNegative(const std::string& person_id, const Descriptor& probe,
                                   const std::string& sighting_id) {
  RETURN_IF_ERROR(CheckText(sighting_id, "sighting id"));
  Descriptor units;
  for (const VectorSpace& space : spaces_) {
    const Embedding* v = FindEmbedding(probe, space.model);
    if (v == nullptr && units.empty())
      return Status::InvalidArgument("the example has no embedding of model " + space.model);
    if (v == nullptr) continue;
    ASSIGN_OR_RETURN(Embedding unit, UnitVector(*v, space));
    units.push_back({space.model, std::move(unit)});
  }
  std::lock_guard<std::mutex> write(write_mu_);
  ASSIGN_OR_RETURN(const uint32_t p, PersonIndex(person_id));
  RETURN_IF_ERROR(repo_->InsertNegatives(person_id, units, sighting_id, NowMs()).status());
  std::unique_lock<std::shared_mutex> lock(mu_);
  for (size_t s = 0; s < spaces_.size(); ++s) {
    const Embedding* unit = FindEmbedding(units, spaces_[s].model);
    if (unit == nullptr) continue;
    Space& space = space_data_[s];
    space.negative_person.push_back(p);
    space.negatives.insert(space.negatives.end(), unit->begin(), unit->end());
  }
  ++generation_;
  return Status::Ok();
}

Result<std::vector<NegativeRecord>> FaceCollection::ListNegatives() const {
  return repo_->ListNegatives();
}

Status FaceCollection::DeleteNegative(int64_t negative_id) {
  std::lock_guard<std::mutex> write(write_mu_);
  ASSIGN_OR_RETURN(const bool deleted, repo_->DeleteNegative(negative_id));
  if (!deleted)
    return Status::NotFound("negative " + std::to_string(negative_id) +
                            " not found in collection " + Quoted(name_));
  return Reload();  // negatives are few; the mirror keeps no ids for them
}

size_t FaceCollection::size() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return face_ids_.size();
}

size_t FaceCollection::stale_faces() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return static_cast<size_t>(std::max<int64_t>(0, stored_faces_ - int64_t(face_ids_.size())));
}

size_t FaceCollection::person_count() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return persons_.size();
}

size_t FaceCollection::persons_with_faces() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return static_cast<size_t>(std::count_if(persons_.begin(), persons_.end(),
                                           [](const PersonEntry& p) { return !p.rows.empty(); }));
}

size_t FaceCollection::negative_count() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return space_data_[0].negative_person.size();
}

// ---- memory mirror ----

void FaceCollection::AppendRow(int64_t face_id, uint32_t person,
                               const std::vector<Embedding>& units) {
  if (ann_) {
    if (Status st = ann_->Add(face_id, units[0].data()); !st.ok()) {
      spdlog::warn("collection {}: {}; searching exactly", name_, st.message());
      DropIndex();  // before the row joins, so it goes into the matrix below
    }
  }
  AddRowToMirror(face_id, person, units, /*compact=*/ann_ != nullptr);
}

void FaceCollection::AddRowToMirror(int64_t face_id, uint32_t person,
                                    const std::vector<Embedding>& units, bool compact) {
  const auto row = static_cast<uint32_t>(face_ids_.size());
  persons_[person].rows.push_back(row);
  face_ids_.push_back(face_id);
  face_person_.push_back(person);
  row_of_[face_id] = row;
  for (size_t s = compact ? 1 : 0; s < spaces_.size(); ++s) {
    Space& space = space_data_[s];
    if (compact) {
      const size_t d = static_cast<size_t>(spaces_[s].dims);
      space.codes.resize(space.codes.size() + CodeBytes(d));
      EncodeUnit(units[s].data(), d, space.codes.data() + row * CodeBytes(d));
    } else {
      space.matrix.insert(space.matrix.end(), units[s].begin(), units[s].end());
    }
  }
}

// Swaps the last row into `row` so the matrices stay dense; the caller
// recomputes the owner's centroid.
void FaceCollection::RemoveRow(uint32_t row) {
  const auto last = static_cast<uint32_t>(face_ids_.size() - 1);
  auto& rows = persons_[face_person_[row]].rows;
  rows.erase(std::find(rows.begin(), rows.end(), row));
  row_of_.erase(face_ids_[row]);
  if (ann_) ann_->Remove(face_ids_[row]);
  // Row bytes per space: the primary space's are in ann_ while compact.
  const auto row_bytes = [this](size_t s) -> size_t {
    const size_t d = static_cast<size_t>(spaces_[s].dims);
    return !ann_ ? d * sizeof(float) : s == 0 ? 0 : CodeBytes(d);
  };
  const auto rows_of = [this](size_t s) {
    Space& space = space_data_[s];
    return ann_ ? space.codes.data() : reinterpret_cast<char*>(space.matrix.data());
  };
  if (row != last) {
    for (size_t s = 0; s < spaces_.size(); ++s)
      if (const size_t b = row_bytes(s); b > 0)
        std::memcpy(rows_of(s) + row * b, rows_of(s) + last * b, b);
    face_ids_[row] = face_ids_[last];
    row_of_[face_ids_[row]] = row;
    const uint32_t moved = face_person_[last];
    face_person_[row] = moved;
    auto& moved_rows = persons_[moved].rows;
    *std::find(moved_rows.begin(), moved_rows.end(), last) = row;
  }
  face_ids_.pop_back();
  face_person_.pop_back();
  for (size_t s = 0; s < spaces_.size(); ++s) {
    Space& space = space_data_[s];
    if (ann_) {
      space.codes.resize(last * row_bytes(s));
    } else {
      space.matrix.resize(last * static_cast<size_t>(spaces_[s].dims));
    }
  }
}

// Drops the person's rows and negatives, then swaps the last person into its slot.
void FaceCollection::RemovePerson(uint32_t person) {
  while (!persons_[person].rows.empty()) RemoveRow(persons_[person].rows.back());
  const auto last = static_cast<uint32_t>(persons_.size() - 1);
  for (size_t s = 0; s < spaces_.size(); ++s) {
    const size_t d = static_cast<size_t>(spaces_[s].dims);
    Space& space = space_data_[s];
    size_t kept = 0;
    for (size_t n = 0; n < space.negative_person.size(); ++n) {
      if (space.negative_person[n] == person) continue;
      space.negative_person[kept] =
          space.negative_person[n] == last ? person : space.negative_person[n];
      std::copy_n(space.negatives.begin() + static_cast<std::ptrdiff_t>(n * d), d,
                  space.negatives.begin() + static_cast<std::ptrdiff_t>(kept * d));
      ++kept;
    }
    space.negative_person.resize(kept);
    space.negatives.resize(kept * d);
    if (ann_) {
      space.centroid_scale[person] = space.centroid_scale[last];
      space.centroid_scale.pop_back();
      continue;
    }
    if (person != last)
      std::copy_n(space.centroids.begin() + static_cast<std::ptrdiff_t>(last * d), d,
                  space.centroids.begin() + static_cast<std::ptrdiff_t>(person * d));
    space.centroids.resize(last * d);
  }
  person_index_.erase(persons_[person].person.id);
  if (person != last) {
    persons_[person] = std::move(persons_[last]);
    person_index_[persons_[person].person.id] = person;
    for (const uint32_t r : persons_[person].rows) face_person_[r] = person;
  }
  persons_.pop_back();
}

// Recomputed from the rows rather than updated incrementally, so deletes
// never accumulate rounding drift.
void FaceCollection::RecomputeCentroid(uint32_t person) {
  for (size_t s = 0; s < spaces_.size(); ++s) {
    const size_t d = static_cast<size_t>(spaces_[s].dims);
    std::vector<double> sum(d, 0.0);
    std::vector<float> v(d);
    for (const uint32_t r : persons_[person].rows) {
      CopyRow(s, r, v.data());
      for (size_t i = 0; i < d; ++i) sum[i] += v[i];
    }
    double norm2 = 0;
    for (const double x : sum) norm2 += x * x;
    const double inv = norm2 > 0 ? 1.0 / std::sqrt(norm2) : 0.0;
    if (ann_) {
      space_data_[s].centroid_scale[person] = static_cast<float>(inv);
      continue;
    }
    float* out = space_data_[s].centroids.data() + person * d;
    for (size_t i = 0; i < d; ++i) out[i] = static_cast<float>(sum[i] * inv);
  }
}

// ---- search ----

float FaceCollection::PersonScore(size_t s, uint32_t p, const float* q, SearchMode mode,
                                  int64_t* face) const {
  const int dims = spaces_[s].dims;
  const size_t d = static_cast<size_t>(dims);
  if (mode == SearchMode::kCentroid && !ann_)
    return Dot(space_data_[s].centroids.data() + p * d, q, dims);
  if (mode == SearchMode::kCentroid) {
    float sum = 0;
    for (const uint32_t r : persons_[p].rows) sum += RowDot(s, r, q);
    return sum * space_data_[s].centroid_scale[p];
  }
  float best = -std::numeric_limits<float>::infinity();
  for (const uint32_t r : persons_[p].rows) {
    const float v = RowDot(s, r, q);
    if (v > best) {
      best = v;
      if (face) *face = face_ids_[r];
    }
  }
  return best;
}

std::vector<Match> FaceCollection::Search(const Descriptor& probe, int k, SearchMode mode) const {
  return SearchWith(probe, k, mode, true);
}

std::vector<Match> FaceCollection::SearchExact(const Descriptor& probe, int k,
                                               SearchMode mode) const {
  return SearchWith(probe, k, mode, false);
}

void FaceCollection::SetEfSearch(int ef_search) {
  std::lock_guard<std::mutex> write(write_mu_);
  std::unique_lock<std::shared_mutex> lock(mu_);
  index_options_.ann.ef_search = std::max(1, ef_search);
  if (ann_) ann_->SetEfSearch(index_options_.ann.ef_search);
}

const char* FaceCollection::search_index() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return ann_ ? "hnsw" : "exact";
}

size_t FaceCollection::vector_bytes() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  size_t bytes = ann_ ? ann_->bytes() : 0;
  for (const Space& space : space_data_)
    bytes += space.codes.size() + (space.matrix.size() + space.centroids.size() +
                                   space.centroid_scale.size() + space.negatives.size()) *
                                      sizeof(float);
  return bytes;
}

std::vector<FaceCollection::Scored> FaceCollection::ScoreAll(const float* q,
                                                             SearchMode mode) const {
  const size_t n_persons = persons_.size();
  std::vector<Scored> out;
  if (mode == SearchMode::kBestFace) {
    std::vector<float> score(n_persons, -std::numeric_limits<float>::infinity());
    std::vector<int64_t> face(n_persons, 0);
    for (uint32_t r = 0; r < face_ids_.size(); ++r) {
      const float s = RowDot(0, r, q);
      const uint32_t p = face_person_[r];
      if (s > score[p]) {
        score[p] = s;
        face[p] = face_ids_[r];
      }
    }
    for (uint32_t p = 0; p < n_persons; ++p)
      if (!persons_[p].rows.empty()) out.push_back({p, score[p], face[p]});
  } else {
    for (uint32_t p = 0; p < n_persons; ++p)
      if (!persons_[p].rows.empty()) out.push_back({p, PersonScore(0, p, q, mode, nullptr), 0});
  }
  return out;
}

std::vector<FaceCollection::Scored> FaceCollection::ScoreCandidates(const float* q, int k,
                                                                    SearchMode mode) const {
  // Several faces per person are near the probe, so ask for more faces than
  // persons wanted; ef_search bounds the work either way.
  constexpr size_t kMinCandidateFaces = 32;
  const size_t wanted = std::max(kMinCandidateFaces, static_cast<size_t>(k) * 8);
  std::vector<uint32_t> persons;
  for (const auto& [face_id, cosine] : ann_->Search(q, wanted)) {
    const auto it = row_of_.find(face_id);
    if (it != row_of_.end()) persons.push_back(face_person_[it->second]);
  }
  std::sort(persons.begin(), persons.end());
  persons.erase(std::unique(persons.begin(), persons.end()), persons.end());
  // Each candidate is scored exactly over all their faces, as ScoreAll does.
  std::vector<Scored> out;
  out.reserve(persons.size());
  for (const uint32_t p : persons) {
    int64_t face = 0;
    const float score = PersonScore(0, p, q, mode, &face);
    out.push_back({p, score, mode == SearchMode::kBestFace ? face : 0});
  }
  return out;
}

std::vector<Match> FaceCollection::Rank(std::vector<Scored> scored,
                                        const std::vector<Embedding>& units, int k,
                                        SearchMode mode) const {
  // "Not me": a probe at least as close to one of P's negatives as to P is not P.
  const float* q = units[0].data();
  const size_t d = static_cast<size_t>(spaces_[0].dims);
  const Space& primary = space_data_[0];
  const auto by_person = [](const Scored& a, uint32_t p) { return a.person < p; };
  const float* negative = primary.negatives.data();
  for (size_t n = 0; n < primary.negative_person.size(); ++n, negative += d) {
    const uint32_t p = primary.negative_person[n];
    const auto it = std::lower_bound(scored.begin(), scored.end(), p, by_person);
    if (it == scored.end() || it->person != p || std::isnan(it->score)) continue;
    if (Dot(negative, q, spaces_[0].dims) >= it->score)
      it->score = std::numeric_limits<float>::quiet_NaN();  // vetoed
  }
  std::erase_if(scored, [](const Scored& c) { return std::isnan(c.score); });

  const size_t top = std::min(scored.size(), static_cast<size_t>(k));
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(top),
                    scored.end(), [&](const Scored& a, const Scored& b) {
                      if (a.score != b.score) return a.score > b.score;
                      return persons_[a.person].person.id < persons_[b.person].person.id;
                    });
  std::vector<Match> matches;
  matches.reserve(top);
  for (size_t i = 0; i < top; ++i) {
    const Scored& c = scored[i];
    Match m{persons_[c.person].person.id, c.score, {c.score}, c.face};
    for (size_t s = 1; s < spaces_.size(); ++s)
      m.scores.push_back(units[s].empty()
                             ? std::numeric_limits<float>::quiet_NaN()
                             : PersonScore(s, c.person, units[s].data(), mode, nullptr));
    matches.push_back(std::move(m));
  }
  return matches;
}

std::vector<Match> FaceCollection::SearchWith(const Descriptor& probe, int k, SearchMode mode,
                                              bool allow_index) const {
  if (k <= 0) return {};
  std::vector<Embedding> units(spaces_.size());
  for (size_t s = 0; s < spaces_.size(); ++s) {
    const Embedding* v = FindEmbedding(probe, spaces_[s].model);
    if (v == nullptr) continue;
    Result<Embedding> unit = UnitVector(*v, spaces_[s]);
    if (unit.ok()) units[s] = std::move(*unit);
  }
  if (units[0].empty()) return {};
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<Scored> scored = allow_index && ann_ ? ScoreCandidates(units[0].data(), k, mode)
                                                   : ScoreAll(units[0].data(), mode);
  return Rank(std::move(scored), units, k, mode);
}

std::vector<FaceCollection::LookAlike> FaceCollection::LookAlikes() const {
  std::vector<LookAlike> out;
  std::shared_lock<std::shared_mutex> lock(mu_);
  const size_t d = static_cast<size_t>(spaces_[0].dims);
  std::vector<float> centroids(persons_.size() * d);
  for (uint32_t p = 0; p < persons_.size(); ++p) CopyCentroid(0, p, centroids.data() + p * d);
  for (uint32_t p = 0; p < persons_.size(); ++p) {
    if (persons_[p].rows.empty()) continue;
    LookAlike best{persons_[p].person.id, "", -std::numeric_limits<float>::infinity()};
    for (uint32_t q = 0; q < persons_.size(); ++q) {
      if (q == p || persons_[q].rows.empty()) continue;
      const float s = Dot(centroids.data() + p * d, centroids.data() + q * d, spaces_[0].dims);
      if (s > best.similarity) best = {best.person_id, persons_[q].person.id, s};
    }
    if (!best.other_id.empty()) out.push_back(std::move(best));
  }
  std::sort(out.begin(), out.end(),
            [](const LookAlike& a, const LookAlike& b) { return a.person_id < b.person_id; });
  return out;
}

uint64_t FaceCollection::generation() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return generation_;
}

std::vector<ImpostorScore> FaceCollection::ImpostorScores(size_t max_pairs,
                                                          SearchMode mode) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<uint32_t> with_faces;
  for (uint32_t p = 0; p < persons_.size(); ++p)
    if (!persons_[p].rows.empty()) with_faces.push_back(p);
  std::vector<ImpostorScore> out;
  if (with_faces.size() < 2 || face_ids_.empty()) return out;
  const size_t total = face_ids_.size() * (with_faces.size() - 1);
  const size_t stride = std::max<size_t>(1, total / std::max<size_t>(max_pairs, 1));
  // Pair n is (face n / (P-1), the (n mod (P-1))-th other person): stepping
  // n by a stride visits faces and persons evenly.
  std::vector<size_t> position(persons_.size(), 0);  // index in with_faces
  for (size_t i = 0; i < with_faces.size(); ++i) position[with_faces[i]] = i;
  std::vector<float> probe;
  for (size_t n = 0; n < total && out.size() < max_pairs; n += stride) {
    const uint32_t row = static_cast<uint32_t>(n / (with_faces.size() - 1));
    const size_t other = n % (with_faces.size() - 1);  // skips the owner's own slot
    const uint32_t q = with_faces[other < position[face_person_[row]] ? other : other + 1];
    ImpostorScore score;
    for (size_t s = 0; s < spaces_.size(); ++s) {
      probe.resize(static_cast<size_t>(spaces_[s].dims));
      CopyRow(s, row, probe.data());
      score.scores.push_back(PersonScore(s, q, probe.data(), mode, nullptr));
    }
    out.push_back(std::move(score));
  }
  return out;
}

}  // namespace concierge
