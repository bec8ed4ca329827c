#include "store/face_collection.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <utility>

#include "core/clock.h"

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

FaceCollection::FaceCollection(Database* db, std::string name, int dims)
    : db_(db), name_(std::move(name)), dims_(dims) {}

Result<std::unique_ptr<FaceCollection>> FaceCollection::Open(Database* db,
                                                             const std::string& collection,
                                                             int dims) {
  if (db == nullptr) return Status::InvalidArgument("no database given");
  if (Status st = ValidateStoreId(collection); !st.ok())
    return Status::InvalidArgument("collection name: " + st.message());
  if (dims < 1 || dims > kMaxDims)
    return Status::InvalidArgument("embedding dims must be 1.." + std::to_string(kMaxDims) +
                                   ", got " + std::to_string(dims));
  std::unique_ptr<FaceCollection> fc(new FaceCollection(db, collection, dims));
  RETURN_IF_ERROR(fc->Load());
  return fc;
}

Status FaceCollection::Load() {
  // Only write when the row is missing, so read-only databases can be searched.
  bool exists = false;
  RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement st, c.Prepare("SELECT 1 FROM collections WHERE name = ?"));
    ASSIGN_OR_RETURN(exists, st.BindText(name_).Step());
    return Status::Ok();
  }));
  if (!exists) {
    RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(
          Statement st,
          c.Prepare("INSERT OR IGNORE INTO collections(name, created_ms) VALUES(?, ?)"));
      return st.BindText(name_).BindInt(NowMs()).Run();
    }));
  }

  // One snapshot, so no face can refer to a person we did not load.
  return db_->ReadTransaction([&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement persons,
                     c.Prepare("SELECT id, display_name, external_id, created_ms FROM persons "
                               "WHERE collection = ? ORDER BY id"));
    RETURN_IF_ERROR(persons.BindText(name_).ForEach([&](const Statement& row) {
      Person p{row.ColumnText(0), row.ColumnText(1), row.ColumnText(2), row.ColumnInt(3)};
      person_index_.emplace(p.id, static_cast<uint32_t>(persons_.size()));
      persons_.push_back({std::move(p), {}});
      return Status::Ok();
    }));
    centroids_.assign(persons_.size() * static_cast<size_t>(dims_), 0.f);

    ASSIGN_OR_RETURN(Statement faces,
                     c.Prepare("SELECT id, person_id, dims, embedding FROM faces "
                               "WHERE collection = ? ORDER BY id"));
    const size_t blob_bytes = static_cast<size_t>(dims_) * sizeof(float);
    RETURN_IF_ERROR(faces.BindText(name_).ForEach([&](const Statement& row) -> Status {
      const int64_t face_id = row.ColumnInt(0);
      if (row.ColumnInt(2) != dims_)
        return Status::FailedPrecondition(
            "collection " + Quoted(name_) + " holds " + std::to_string(row.ColumnInt(2)) +
            "-d embeddings but the model makes " + std::to_string(dims_) +
            "-d ones; re-enrol into a new collection");
      const std::string_view blob = row.ColumnBlob(3);
      if (blob.size() != blob_bytes)
        return Status::IoError("corrupt embedding of face " + std::to_string(face_id) + " in " +
                               db_->path());
      const auto it = person_index_.find(row.ColumnText(1));
      if (it == person_index_.end())
        return Status::IoError("face " + std::to_string(face_id) + " refers to a missing person");
      const size_t offset = matrix_.size();
      matrix_.resize(offset + static_cast<size_t>(dims_));
      std::memcpy(matrix_.data() + offset, blob.data(), blob_bytes);
      persons_[it->second].rows.push_back(static_cast<uint32_t>(face_ids_.size()));
      face_ids_.push_back(face_id);
      face_person_.push_back(it->second);
      return Status::Ok();
    }));
    for (uint32_t p = 0; p < persons_.size(); ++p) RecomputeCentroid(p);
    return Status::Ok();
  });
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
  RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement st,
                     c.Prepare("INSERT INTO persons(collection, id, display_name, external_id, "
                               "created_ms) VALUES(?, ?, ?, ?, ?)"));
    return st.BindText(name_)
        .BindText(stored.id)
        .BindText(stored.display_name)
        .BindText(stored.external_id)
        .BindInt(stored.created_ms)
        .Run();
  }));

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
  RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement st, c.Prepare("UPDATE persons SET display_name = ? "
                                             "WHERE collection = ? AND id = ?"));
    return st.BindText(display_name).BindText(name_).BindText(id).Run();
  }));
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
  RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement st, c.Prepare("UPDATE persons SET external_id = ? "
                                             "WHERE collection = ? AND id = ?"));
    return st.BindText(external_id).BindText(name_).BindText(id).Run();
  }));
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

  std::vector<int64_t> ids;
  ids.reserve(faces.size());
  const int64_t now = NowMs();
  RETURN_IF_ERROR(db_->Transaction([&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement st,
                     c.Prepare("INSERT INTO faces(collection, person_id, embedding, dims, "
                               "image_key, quality, origin, created_ms) "
                               "VALUES(?, ?, ?, ?, ?, ?, ?, ?)"));
    for (size_t i = 0; i < faces.size(); ++i) {
      const FaceRecord& f = faces[i];
      st.Reset();
      RETURN_IF_ERROR(st.BindText(name_)
                          .BindText(f.person_id)
                          .BindBlob(units[i].data(), units[i].size() * sizeof(float))
                          .BindInt(dims_)
                          .BindText(f.image_key)
                          .BindDouble(f.quality)
                          .BindText(ToString(f.origin))
                          .BindInt(f.created_ms != 0 ? f.created_ms : now)
                          .Run());
      ids.push_back(c.LastInsertId());
    }
    return Status::Ok();
  }));

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
  std::vector<FaceRecord> out;
  RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement st,
                     c.Prepare("SELECT id, embedding, image_key, quality, origin, created_ms "
                               "FROM faces WHERE collection = ? AND person_id = ? ORDER BY id"));
    return st.BindText(name_).BindText(person_id).ForEach([&](const Statement& row) -> Status {
      const std::string_view blob = row.ColumnBlob(1);
      if (blob.size() % sizeof(float) != 0)
        return Status::IoError("corrupt embedding of face " + std::to_string(row.ColumnInt(0)) +
                               " in " + db_->path());
      FaceRecord f;
      f.id = row.ColumnInt(0);
      f.person_id = person_id;
      f.collection = name_;
      f.embedding.resize(blob.size() / sizeof(float));
      std::memcpy(f.embedding.data(), blob.data(), blob.size());
      f.image_key = row.ColumnText(2);
      f.quality = static_cast<float>(row.ColumnDouble(3));
      f.origin = row.ColumnText(4) == "tagged" ? FaceOrigin::kTagged : FaceOrigin::kEnrolled;
      f.created_ms = row.ColumnInt(5);
      out.push_back(std::move(f));
      return Status::Ok();
    });
  }));
  return out;
}

Status FaceCollection::DeleteFace(int64_t face_id) {
  std::lock_guard<std::mutex> write(write_mu_);
  int64_t deleted = 0;
  RETURN_IF_ERROR(db_->WithConnection([&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement st, c.Prepare("DELETE FROM faces WHERE id = ? AND collection = ?"));
    RETURN_IF_ERROR(st.BindInt(face_id).BindText(name_).Run());
    deleted = c.Changes();
    return Status::Ok();
  }));
  if (deleted == 0)
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
  std::vector<std::string> image_keys;
  RETURN_IF_ERROR(db_->Transaction([&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement keys,
                     c.Prepare("SELECT DISTINCT image_key FROM faces WHERE collection = ? AND "
                               "person_id = ? AND image_key <> '' ORDER BY image_key"));
    RETURN_IF_ERROR(keys.BindText(name_).BindText(id).ForEach([&](const Statement& row) {
      image_keys.push_back(row.ColumnText(0));
      return Status::Ok();
    }));
    // Faces go with the person (ON DELETE CASCADE).
    ASSIGN_OR_RETURN(Statement del,
                     c.Prepare("DELETE FROM persons WHERE collection = ? AND id = ?"));
    return del.BindText(name_).BindText(id).Run();
  }));
  std::unique_lock<std::shared_mutex> lock(mu_);
  RemovePerson(p);
  return image_keys;
}

size_t FaceCollection::size() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return face_ids_.size();
}

size_t FaceCollection::person_count() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return persons_.size();
}

// ---- memory mirror ----

void FaceCollection::AppendRow(int64_t face_id, uint32_t person, const Embedding& unit) {
  persons_[person].rows.push_back(static_cast<uint32_t>(face_ids_.size()));
  face_ids_.push_back(face_id);
  face_person_.push_back(person);
  matrix_.insert(matrix_.end(), unit.begin(), unit.end());
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

// Drops the person's rows, then swaps the last person into its slot.
void FaceCollection::RemovePerson(uint32_t person) {
  while (!persons_[person].rows.empty()) RemoveRow(persons_[person].rows.back());
  const auto last = static_cast<uint32_t>(persons_.size() - 1);
  const size_t d = static_cast<size_t>(dims_);
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

  std::vector<uint32_t> ranked;
  ranked.reserve(n_persons);
  for (uint32_t p = 0; p < n_persons; ++p)
    if (!persons_[p].rows.empty()) ranked.push_back(p);
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
