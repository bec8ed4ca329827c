#include "store/face_collection.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <utility>

#include "core/clock.h"
#include "store/sqlite_face_repository.h"

namespace concierge {

static_assert(std::endian::native == std::endian::little,
              "embedding blobs are float32 little-endian and copied as is");

namespace {

constexpr int kMaxDims = 65536;
constexpr size_t kMaxTextBytes = 256;

// Dot product with independent partial sums: without -ffast-math the compiler
// may not reorder one running sum, but it vectorises these lanes as is.
float Dot(const float* a, const float* b, int n) {
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
Result<Embedding> UnitVector(const Embedding& v, int dims) {
  if (v.size() != static_cast<size_t>(dims))
    return Status::InvalidArgument("embedding has " + std::to_string(v.size()) +
                                   " values, collection needs " + std::to_string(dims));
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

}  // namespace

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

FaceCollection::FaceCollection(std::unique_ptr<FaceRepository> repository, int dims)
    : repo_(std::move(repository)), name_(repo_ ? repo_->collection() : ""), dims_(dims) {}

Result<std::unique_ptr<FaceCollection>> FaceCollection::Open(
    std::unique_ptr<FaceRepository> repository, int dims) {
  if (repository == nullptr) return Status::InvalidArgument("no face repository given");
  if (Status st = ValidateStoreId(repository->collection()); !st.ok())
    return Status::InvalidArgument("collection name: " + st.message());
  if (dims < 1 || dims > kMaxDims)
    return Status::InvalidArgument("embedding dims must be 1.." + std::to_string(kMaxDims) +
                                   ", got " + std::to_string(dims));
  std::unique_ptr<FaceCollection> fc(new FaceCollection(std::move(repository), dims));
  RETURN_IF_ERROR(fc->repo_->EnsureCollection());
  std::lock_guard<std::mutex> write(fc->write_mu_);
  RETURN_IF_ERROR(fc->Reload());
  return fc;
}

Result<std::unique_ptr<FaceCollection>> FaceCollection::Open(Database* db,
                                                             const std::string& collection,
                                                             int dims) {
  if (db == nullptr) return Status::InvalidArgument("no database given");
  return Open(NewSqliteFaceRepository(db, collection), dims);
}

Result<bool> FaceCollection::Refresh() {
  std::lock_guard<std::mutex> write(write_mu_);
  ASSIGN_OR_RETURN(const int64_t token, repo_->ChangeToken());
  if (token == change_token_) return false;
  RETURN_IF_ERROR(Reload());
  return true;
}

Status FaceCollection::Reload() {
  // The token first: a change committed during the load shows at the next Refresh.
  ASSIGN_OR_RETURN(const int64_t token, repo_->ChangeToken());
  ASSIGN_OR_RETURN(const FaceSnapshot snapshot, repo_->Load(dims_));
  FaceCollection fresh(nullptr, dims_);
  RETURN_IF_ERROR(fresh.Install(snapshot));
  std::unique_lock<std::shared_mutex> lock(mu_);
  persons_.swap(fresh.persons_);
  person_index_.swap(fresh.person_index_);
  centroids_.swap(fresh.centroids_);
  matrix_.swap(fresh.matrix_);
  face_ids_.swap(fresh.face_ids_);
  face_person_.swap(fresh.face_person_);
  negatives_.swap(fresh.negatives_);
  negative_person_.swap(fresh.negative_person_);
  change_token_ = token;
  return Status::Ok();
}

Status FaceCollection::Install(const FaceSnapshot& snapshot) {
  for (const Person& p : snapshot.persons) {
    person_index_.emplace(p.id, static_cast<uint32_t>(persons_.size()));
    persons_.push_back({p, {}});
  }
  centroids_.assign(persons_.size() * static_cast<size_t>(dims_), 0.f);
  auto owner = [&](const StoredVector& v) -> Result<uint32_t> {
    const auto it = person_index_.find(v.person_id);
    if (it == person_index_.end())
      return Status::IoError("row " + std::to_string(v.id) + " of collection " + Quoted(name_) +
                             " refers to a missing person");
    return it->second;
  };
  for (const StoredVector& face : snapshot.faces) {
    ASSIGN_OR_RETURN(const uint32_t p, owner(face));
    AppendRow(face.id, p, face.unit);
  }
  for (const StoredVector& negative : snapshot.negatives) {
    ASSIGN_OR_RETURN(const uint32_t p, owner(negative));
    AppendNegative(p, negative.unit);
  }
  for (uint32_t p = 0; p < persons_.size(); ++p) RecomputeCentroid(p);
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
  centroids_.resize(centroids_.size() + static_cast<size_t>(dims_), 0.f);
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

Result<Embedding> FaceCollection::CheckFace(const FaceRecord& face) const {
  if (!face.collection.empty() && face.collection != name_)
    return Status::InvalidArgument("face is for collection " + Quoted(face.collection) +
                                   ", not " + Quoted(name_));
  RETURN_IF_ERROR(CheckText(face.image_key, "image key"));
  if (!std::isfinite(face.quality)) return Status::InvalidArgument("face quality is not finite");
  RETURN_IF_ERROR(PersonIndex(face.person_id).status());
  return UnitVector(face.embedding, dims_);
}

Result<int64_t> FaceCollection::AddFace(const FaceRecord& face) {
  ASSIGN_OR_RETURN(const std::vector<int64_t> ids, AddFaces({face}));
  return ids.front();
}

Result<std::vector<int64_t>> FaceCollection::AddFaces(const std::vector<FaceRecord>& faces) {
  if (faces.empty()) return std::vector<int64_t>{};
  std::lock_guard<std::mutex> write(write_mu_);
  std::vector<Embedding> units;
  units.reserve(faces.size());
  for (const auto& face : faces) {
    ASSIGN_OR_RETURN(Embedding unit, CheckFace(face));
    units.push_back(std::move(unit));
  }

  const int64_t now = NowMs();
  std::vector<FaceRecord> stored = faces;
  for (size_t i = 0; i < stored.size(); ++i) {
    stored[i].collection = name_;
    stored[i].embedding = units[i];
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
  return ids;
}

Result<std::vector<FaceRecord>> FaceCollection::ListFaces(const std::string& person_id) const {
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    RETURN_IF_ERROR(PersonIndex(person_id).status());
  }
  return repo_->ListFaces(person_id);
}

Status FaceCollection::DeleteFace(int64_t face_id) {
  std::lock_guard<std::mutex> write(write_mu_);
  ASSIGN_OR_RETURN(const bool deleted, repo_->DeleteFace(face_id));
  if (!deleted)
    return Status::NotFound("face " + std::to_string(face_id) + " not found in collection " +
                            Quoted(name_));
  const auto it = std::find(face_ids_.begin(), face_ids_.end(), face_id);
  if (it == face_ids_.end()) return Status::Ok();  // added by another process; nothing cached
  const auto row = static_cast<uint32_t>(it - face_ids_.begin());
  std::unique_lock<std::shared_mutex> lock(mu_);
  const uint32_t p = face_person_[row];
  RemoveRow(row);
  RecomputeCentroid(p);
  return Status::Ok();
}

Result<std::vector<std::string>> FaceCollection::ForgetPerson(const std::string& id) {
  std::lock_guard<std::mutex> write(write_mu_);
  ASSIGN_OR_RETURN(const uint32_t p, PersonIndex(id));
  ASSIGN_OR_RETURN(std::vector<std::string> image_keys, repo_->DeletePerson(id));
  std::unique_lock<std::shared_mutex> lock(mu_);
  RemovePerson(p);
  return image_keys;
}

Status FaceCollection::AddNegative(const std::string& person_id, const Embedding& e,
                                   const std::string& sighting_id) {
  RETURN_IF_ERROR(CheckText(sighting_id, "sighting id"));
  ASSIGN_OR_RETURN(const Embedding unit, UnitVector(e, dims_));
  std::lock_guard<std::mutex> write(write_mu_);
  ASSIGN_OR_RETURN(const uint32_t p, PersonIndex(person_id));
  RETURN_IF_ERROR(repo_->InsertNegative(person_id, unit, sighting_id, NowMs()).status());
  std::unique_lock<std::shared_mutex> lock(mu_);
  AppendNegative(p, unit);
  return Status::Ok();
}

size_t FaceCollection::size() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return face_ids_.size();
}

size_t FaceCollection::person_count() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return persons_.size();
}

size_t FaceCollection::negative_count() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return negative_person_.size();
}

// ---- memory mirror ----

void FaceCollection::AppendRow(int64_t face_id, uint32_t person, const Embedding& unit) {
  persons_[person].rows.push_back(static_cast<uint32_t>(face_ids_.size()));
  face_ids_.push_back(face_id);
  face_person_.push_back(person);
  matrix_.insert(matrix_.end(), unit.begin(), unit.end());
}

void FaceCollection::AppendNegative(uint32_t person, const Embedding& unit) {
  negative_person_.push_back(person);
  negatives_.insert(negatives_.end(), unit.begin(), unit.end());
}

// Swaps the last row into `row` so the matrix stays dense; the caller
// recomputes the owner's centroid.
void FaceCollection::RemoveRow(uint32_t row) {
  const auto last = static_cast<uint32_t>(face_ids_.size() - 1);
  const size_t d = static_cast<size_t>(dims_);
  auto& rows = persons_[face_person_[row]].rows;
  rows.erase(std::find(rows.begin(), rows.end(), row));
  if (row != last) {
    std::copy_n(matrix_.begin() + static_cast<std::ptrdiff_t>(last * d), d,
                matrix_.begin() + static_cast<std::ptrdiff_t>(row * d));
    face_ids_[row] = face_ids_[last];
    const uint32_t moved = face_person_[last];
    face_person_[row] = moved;
    auto& moved_rows = persons_[moved].rows;
    *std::find(moved_rows.begin(), moved_rows.end(), last) = row;
  }
  face_ids_.pop_back();
  face_person_.pop_back();
  matrix_.resize(last * d);
}

// Drops the person's rows and negatives, then swaps the last person into its slot.
void FaceCollection::RemovePerson(uint32_t person) {
  while (!persons_[person].rows.empty()) RemoveRow(persons_[person].rows.back());
  const auto last = static_cast<uint32_t>(persons_.size() - 1);
  const size_t d = static_cast<size_t>(dims_);
  size_t kept = 0;
  for (size_t n = 0; n < negative_person_.size(); ++n) {
    if (negative_person_[n] == person) continue;
    negative_person_[kept] = negative_person_[n] == last ? person : negative_person_[n];
    std::copy_n(negatives_.begin() + static_cast<std::ptrdiff_t>(n * d), d,
                negatives_.begin() + static_cast<std::ptrdiff_t>(kept * d));
    ++kept;
  }
  negative_person_.resize(kept);
  negatives_.resize(kept * d);
  person_index_.erase(persons_[person].person.id);
  if (person != last) {
    persons_[person] = std::move(persons_[last]);
    person_index_[persons_[person].person.id] = person;
    for (const uint32_t r : persons_[person].rows) face_person_[r] = person;
    std::copy_n(centroids_.begin() + static_cast<std::ptrdiff_t>(last * d), d,
                centroids_.begin() + static_cast<std::ptrdiff_t>(person * d));
  }
  persons_.pop_back();
  centroids_.resize(last * d);
}

// Recomputed from the rows rather than updated incrementally, so deletes
// never accumulate rounding drift.
void FaceCollection::RecomputeCentroid(uint32_t person) {
  const size_t d = static_cast<size_t>(dims_);
  std::vector<double> sum(d, 0.0);
  for (const uint32_t r : persons_[person].rows) {
    const float* v = matrix_.data() + r * d;
    for (size_t i = 0; i < d; ++i) sum[i] += v[i];
  }
  double norm2 = 0;
  for (const double x : sum) norm2 += x * x;
  const double inv = norm2 > 0 ? 1.0 / std::sqrt(norm2) : 0.0;
  float* out = centroids_.data() + person * d;
  for (size_t i = 0; i < d; ++i) out[i] = static_cast<float>(sum[i] * inv);
}

// ---- search ----

std::vector<Match> FaceCollection::Search(const Embedding& probe, int k, SearchMode mode) const {
  if (k <= 0) return {};
  const Result<Embedding> unit = UnitVector(probe, dims_);
  if (!unit.ok()) return {};
  const float* q = unit->data();
  const size_t d = static_cast<size_t>(dims_);

  std::shared_lock<std::shared_mutex> lock(mu_);
  const size_t n_persons = persons_.size();
  std::vector<float> score(n_persons, -std::numeric_limits<float>::infinity());
  std::vector<int64_t> face(n_persons, 0);
  if (mode == SearchMode::kBestFace) {
    const float* row = matrix_.data();
    for (size_t r = 0; r < face_ids_.size(); ++r, row += d) {
      const float s = Dot(row, q, dims_);
      const uint32_t p = face_person_[r];
      if (s > score[p]) {
        score[p] = s;
        face[p] = face_ids_[r];
      }
    }
  } else {
    for (size_t p = 0; p < n_persons; ++p)
      if (!persons_[p].rows.empty()) score[p] = Dot(centroids_.data() + p * d, q, dims_);
  }

  // "Not me": a probe at least as close to one of P's negatives as to P is not P.
  std::vector<bool> vetoed(n_persons, false);
  const float* negative = negatives_.data();
  for (size_t n = 0; n < negative_person_.size(); ++n, negative += d) {
    const uint32_t p = negative_person_[n];
    if (!vetoed[p] && Dot(negative, q, dims_) >= score[p]) vetoed[p] = true;
  }

  std::vector<uint32_t> ranked;
  ranked.reserve(n_persons);
  for (uint32_t p = 0; p < n_persons; ++p)
    if (!persons_[p].rows.empty() && !vetoed[p]) ranked.push_back(p);
  const size_t top = std::min(ranked.size(), static_cast<size_t>(k));
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(top),
                    ranked.end(), [&](uint32_t a, uint32_t b) {
                      if (score[a] != score[b]) return score[a] > score[b];
                      return persons_[a].person.id < persons_[b].person.id;
                    });
  std::vector<Match> matches;
  matches.reserve(top);
  for (size_t i = 0; i < top; ++i) {
    const uint32_t p = ranked[i];
    matches.push_back({persons_[p].person.id, score[p], face[p]});
  }
  return matches;
}

}  // namespace concierge
