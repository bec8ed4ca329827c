#include "http/rekognition_service.h"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <set>
#include <tuple>

#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/hash.h"
#include "http/rekognition_shapes.h"
#include "pipeline/enrol.h"
#include "pipeline/gallery.h"
#include "vision/image_io.h"

namespace concierge {

namespace {

using json = nlohmann::json;

constexpr char kAnonymousPrefix[] = "aws-anonymous-";
constexpr char kAccount[] = "000000000000";
constexpr int64_t kMaxImageBytes = 5 * 1024 * 1024;      // Image.Bytes, as AWS
constexpr int64_t kMaxS3ImageBytes = 15 * 1024 * 1024;   // Image.S3Object, as AWS
// The longer side a JPEG is decoded at, at least (ImageLimits::max_side).
constexpr int kSearchImageSide = 2048;
constexpr int kMaxFacesPerImage = 100;                   // faces described per image, as AWS
constexpr int kDefaultMaxFaces = 80;
constexpr int kDefaultPage = 1000;
constexpr int kDefaultMaxUsers = 10;
constexpr int kMaxUserPage = 500;
constexpr double kDefaultMatchThreshold = 80;
constexpr double kDefaultUserAssociationThreshold = 75;
constexpr char kS3Message[] =
    "Unable to get object metadata from S3. Check object key, region and/or access permissions.";
constexpr char kNoFaceMessage[] = "There are no faces in the image. Should be at least 1.";

AwsError Error(const char* type, std::string message) {
  return MakeAwsError(type, std::move(message));
}
AwsError InvalidParameter(std::string message) {
  return Error("InvalidParameterException", std::move(message));
}
// Storage or engine trouble: logged whole, answered without details.
AwsError ServerError(const Status& status) {
  spdlog::error("rekognition: request failed: {}", status.ToString());
  return Error("InternalServerError", "Internal server error; see the Concierge server log.");
}

bool IsAnonymous(const std::string& person) { return person.rfind(kAnonymousPrefix, 0) == 0; }

double Round2(double v) { return std::round(v * 100) / 100; }
double Round6(double v) { return std::round(v * 1e6) / 1e6; }

float Cosine(const Embedding& a, const Embedding& b) {
  if (a.size() != b.size() || a.empty()) return -1;
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += double{a[i]} * b[i];
    na += double{a[i]} * a[i];
    nb += double{b[i]} * b[i];
  }
  return na > 0 && nb > 0 ? static_cast<float>(dot / std::sqrt(na * nb)) : -1;
}

// The normalised mean of a person's faces' primary vectors; empty without faces.
Embedding Centroid(const std::vector<FaceRecord>& faces, const std::string& model) {
  Embedding sum;
  for (const auto& f : faces) {
    const Embedding* v = FindEmbedding(f.embeddings, model);
    if (v == nullptr) continue;
    if (sum.empty()) sum.assign(v->size(), 0.f);
    for (size_t i = 0; i < sum.size() && i < v->size(); ++i) sum[i] += (*v)[i];
  }
  if (sum.empty()) return {};
  double norm = 0;
  for (float v : sum) norm += double{v} * v;
  if (norm <= 0) return {};
  for (float& v : sum) v = static_cast<float>(v / std::sqrt(norm));
  return sum;
}

// "faceplugin-face-recognition-js@0.0.1" -> "0.0.1": digits and dots, as
// IndexFacesModelVersion wants.
std::string ModelVersion(const FaceEngine* engine) {
  const std::string name = engine ? engine->pack().name : "";
  std::string version = name.substr(name.find('@') == std::string::npos ? name.size()
                                                                         : name.find('@') + 1);
  version.erase(std::remove_if(version.begin(), version.end(),
                               [](char c) { return !(std::isdigit(static_cast<unsigned char>(c)) ||
                                                     c == '.'); }),
                version.end());
  return version.empty() ? "1.0" : version;
}

// An integer member (validated as one by the model), clamped to int.
int IntOr(const json& in, const char* key, int fallback) {
  const auto it = in.find(key);
  if (it == in.end() || it->is_null()) return fallback;
  return static_cast<int>(std::clamp(it->get<double>(), double{INT_MIN}, double{INT_MAX}));
}
double NumberOr(const json& in, const char* key, double fallback) {
  const auto it = in.find(key);
  return it == in.end() || it->is_null() ? fallback : it->get<double>();
}
std::string TextOr(const json& in, const char* key, const std::string& fallback = "") {
  const auto it = in.find(key);
  return it == in.end() || !it->is_string() ? fallback : it->get<std::string>();
}

// Detections sorted by box area, largest first, at most kMaxFacesPerImage.
std::vector<Detection> LargestFirst(std::vector<Detection> detections) {
  std::stable_sort(detections.begin(), detections.end(), [](const auto& a, const auto& b) {
    return a.box.area() > b.box.area();
  });
  if (detections.size() > size_t{kMaxFacesPerImage}) detections.resize(kMaxFacesPerImage);
  return detections;
}

// What AWS reports about a face indexed elsewhere (enrolled in the UI or the
// CLI): its stored crop is the face, so the box is the whole picture.
IndexedFace DefaultMeta(const std::string& collection, int64_t row, int64_t created_ms) {
  IndexedFace meta;
  meta.face_uuid = FaceIdForRow(row);
  meta.collection = collection;
  meta.face_id = row;
  meta.image_id = ImageIdFor(meta.face_uuid);
  meta.width = meta.height = 1;
  meta.confidence = 100;
  meta.created_ms = created_ms;
  return meta;
}

}  // namespace

RekognitionService::RekognitionService(RekognitionParts parts)
    : parts_(parts),
      office_id_(parts.config->aws.office_collection_id.empty()
                     ? parts.config->recognition.collection
                     : parts.config->aws.office_collection_id),
      model_version_(ModelVersion(parts.engine)),
      store_(*parts.store) {
  if (Status s = store_.EnsureCollection(office_id_, NowMs()); !s.ok())
    spdlog::warn("rekognition: cannot record the office collection: {}", s.ToString());
}

AwsResult<json> RekognitionService::Run(const std::string& op, const json& in,
                                        const std::string& region) {
  using Op = AwsResult<json> (RekognitionService::*)(const json&);
  static const std::map<std::string, Op> kPlain = {
      {"DeleteCollection", &RekognitionService::DeleteCollection},
      {"ListCollections", &RekognitionService::ListCollections},
      {"IndexFaces", &RekognitionService::IndexFaces},
      {"ListFaces", &RekognitionService::ListFaces},
      {"DeleteFaces", &RekognitionService::DeleteFaces},
      {"SearchFaces", &RekognitionService::SearchFaces},
      {"SearchFacesByImage", &RekognitionService::SearchFacesByImage},
      {"ListUsers", &RekognitionService::ListUsers},
      {"SearchUsers", &RekognitionService::SearchUsers},
      {"SearchUsersByImage", &RekognitionService::SearchUsersByImage},
      {"DetectFaces", &RekognitionService::DetectFaces},
      {"CompareFaces", &RekognitionService::CompareFaces}};
  // The operations that take a ClientRequestToken.
  static const std::map<std::string, Op> kTokened = {
      {"CreateUser", &RekognitionService::CreateUser},
      {"DeleteUser", &RekognitionService::DeleteUser},
      {"AssociateFaces", &RekognitionService::AssociateFaces},
      {"DisassociateFaces", &RekognitionService::DisassociateFaces}};
  if (op == "CreateCollection") return CreateCollection(in, region);
  if (op == "DescribeCollection") return DescribeCollection(in, region);
  if (const auto it = kPlain.find(op); it != kPlain.end()) return (this->*(it->second))(in);
  if (const auto it = kTokened.find(op); it != kTokened.end()) {
    std::lock_guard lock(write_mu_);
    return Idempotent(op, in, it->second);
  }
  return Error("UnknownOperationException", "Unknown operation " + op);
}

AwsResult<json> RekognitionService::Idempotent(const std::string& op, const json& in,
                                               AwsResult<json> (RekognitionService::*run)(
                                                   const json&)) {
  const std::string token = TextOr(in, "ClientRequestToken");
  if (token.empty()) return (this->*run)(in);
  json request = in;
  request.erase("ClientRequestToken");
  const std::string sha = Sha256Hex(request.dump());
  auto kept = store_.FindResponse(op, token);
  if (!kept.ok()) return ServerError(kept.status());
  if (*kept) {
    if ((*kept)->request_sha != sha)
      return Error("IdempotentParameterMismatchException",
                   "ClientRequestToken " + token + " was used with different parameters");
    return json::parse((*kept)->response, nullptr, false);
  }
  AwsResult<json> result = (this->*run)(in);
  if (result.ok()) {
    if (Status s = store_.KeepResponse(op, token, {sha, result->dump()}, NowMs()); !s.ok())
      spdlog::warn("rekognition: answer to {} not kept for retries: {}", op, s.ToString());
  }
  return result;
}

// ---- parts ----

AwsResult<RekognitionService::CollectionPtr> RekognitionService::Collection(
    const std::string& id) {
  if (IsOffice(id)) {
    if (parts_.office == nullptr)
      return Error("InternalServerError", "The office face collection is not open here.");
    return CollectionPtr(CollectionPtr(), parts_.office);  // not owned
  }
  const auto missing = Error("ResourceNotFoundException",
                             "The collection id: " + id + " does not exist");
  auto recorded = store_.GetCollection(id);
  if (!recorded.ok()) return ServerError(recorded.status());
  if (!*recorded) return missing;
  std::lock_guard lock(open_mu_);
  if (auto it = open_.find(id); it != open_.end()) {
    // Another process may have changed it (serve on PostgreSQL).
    if (auto refreshed = it->second->Refresh(); !refreshed.ok())
      return ServerError(refreshed.status());
    return it->second;
  }
  auto spaces = Spaces();
  if (!spaces.ok()) return spaces.error();
  if (!parts_.open_repository)
    return Error("InternalServerError", "Collections other than the office's cannot be opened "
                                        "in this Concierge process.");
  auto repository = parts_.open_repository(id);
  if (!repository.ok()) return ServerError(repository.status());
  auto opened = FaceCollection::Open(std::move(*repository), *spaces,
                                     SearchIndexOptionsFor(*parts_.config));
  if (!opened.ok()) return ServerError(opened.status());
  CollectionPtr collection(std::move(*opened));
  open_[id] = collection;
  return collection;
}

AwsResult<std::vector<VectorSpace>> RekognitionService::Spaces() const {
  if (parts_.engine) return SpacesOf(parts_.engine->embedders());
  if (parts_.office) return parts_.office->spaces();
  return Error("InternalServerError", "Face analysis is not running in this Concierge process.");
}

Embedding RekognitionService::Primary(const Descriptor& embeddings) const {
  auto spaces = Spaces();
  if (!spaces.ok() || spaces->empty()) return {};
  const Embedding* v = FindEmbedding(embeddings, spaces->front().model);
  return v ? *v : Embedding{};
}

AwsResult<RekognitionService::Picture> RekognitionService::ReadPicture(const json& image) {
  if (parts_.engine == nullptr)
    return Error("InternalServerError", "Face analysis is not running in this Concierge process.");
  const bool has_bytes = image.contains("Bytes") && !image["Bytes"].is_null();
  const bool has_s3 = image.contains("S3Object") && !image["S3Object"].is_null();
  if (has_bytes == has_s3)
    return InvalidParameter("Requested image should either contain bytes or s3 object.");
  const AwsError too_large = Error("ImageTooLargeException", "Image size is too large.");
  std::string bytes;
  if (has_bytes) {
    const std::string& b64 = image["Bytes"].get_ref<const std::string&>();
    if (b64.size() > static_cast<size_t>(kMaxImageBytes / 3 + 1) * 4 + 4) return too_large;
    bytes.resize(b64.size() * 3 / 4 + 3);
    size_t length = 0;
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(bytes.data()), bytes.size(),
                          b64.data(), b64.size(), "\r\n", &length, nullptr,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
      return Error("SerializationException", "Image.Bytes is not valid base64.");
    bytes.resize(length);
    if (static_cast<int64_t>(bytes.size()) > kMaxImageBytes) return too_large;
  } else {
    const json& s3 = image["S3Object"];
    const std::string bucket = parts_.config->aws.s3_bucket.empty()
                                   ? parts_.config->objects.s3_bucket
                                   : parts_.config->aws.s3_bucket;
    const std::string name = TextOr(s3, "Name");
    if (s3.contains("Version"))
      return Error("InvalidS3ObjectException",
                   "S3 object versions are not kept by Concierge's object store; leave "
                   "S3Object.Version out.");
    if (TextOr(s3, "Bucket") != bucket || !ValidateObjectKey(name).ok())
      return Error("InvalidS3ObjectException", kS3Message);
    if (parts_.objects == nullptr)
      return Error("InternalServerError", "The object store is not open in this process.");
    auto got = parts_.objects->Get(name);
    if (got.status().code() == Status::Code::kNotFound ||
        got.status().code() == Status::Code::kInvalidArgument)
      return Error("InvalidS3ObjectException", kS3Message);
    if (!got.ok()) return ServerError(got.status());
    bytes = std::move(*got);
    if (static_cast<int64_t>(bytes.size()) > kMaxS3ImageBytes) return too_large;
  }
  const VisionConfig& vision = parts_.config->vision;
  // Answers give boxes as ratios of the picture, so a large JPEG may be
  // decoded reduced: faces the detector finds stay well resolved at 2048 px.
  auto decoded = DecodeImage(bytes, {std::min(vision.max_image_bytes, kMaxS3ImageBytes),
                                     vision.max_image_pixels, kSearchImageSide});
  if (decoded.status().code() == Status::Code::kTooLarge) return too_large;
  if (!decoded.ok())
    return Error("InvalidImageFormatException", "Request has invalid image format.");
  auto found = parts_.engine->detector().Detect(*decoded);
  if (!found.ok()) return ServerError(found.status());
  // Only human faces: a dog or a clock is no face to AWS either.
  std::vector<Detection> human;
  for (const Detection& d : *found) {
    auto verdict = parts_.engine->CheckHuman(*decoded, d.box);
    if (!verdict.ok()) return ServerError(verdict.status());
    if (verdict->human) human.push_back(d);
  }
  return Picture{std::move(*decoded), ImageIdFor(bytes), LargestFirst(std::move(human))};
}

AwsResult<FaceObservation> RekognitionService::Describe(const Picture& picture,
                                                        const Detection& face, EmbedWith embed) {
  auto described = parts_.engine->Describe(
      picture.image, face, {.embed = embed, .anti_spoof = false, .check_human = false});
  if (!described.ok()) return ServerError(described.status());
  return std::move(*described);
}

AwsResult<RekognitionService::FaceIndex> RekognitionService::AllFaces(const FaceCollection& c) {
  auto metas = store_.FacesOf(c.name());
  if (!metas.ok()) return ServerError(metas.status());
  std::map<int64_t, IndexedFace> meta_by_row;
  for (auto& m : *metas) meta_by_row[m.face_id] = std::move(m);
  auto persons = c.ListPersons();
  if (!persons.ok()) return ServerError(persons.status());
  FaceIndex index;
  for (const Person& p : *persons) {
    auto faces = c.ListFaces(p.id);
    if (!faces.ok()) return ServerError(faces.status());
    for (FaceRecord& f : *faces) {
      FaceEntry entry;
      const auto meta = meta_by_row.find(f.id);
      entry.indexed_here = meta != meta_by_row.end();
      entry.meta = entry.indexed_here ? meta->second : DefaultMeta(c.name(), f.id, f.created_ms);
      entry.record = std::move(f);
      index.uuids[entry.meta.face_uuid] = entry.record.id;
      index.rows.emplace(entry.record.id, std::move(entry));
    }
  }
  return index;
}

std::optional<int64_t> RekognitionService::FaceIndex::RowOf(const std::string& uuid) const {
  const auto it = uuids.find(uuid);
  if (it == uuids.end()) return std::nullopt;
  return it->second;
}

json RekognitionService::FaceJson(const FaceCollection& c, const FaceEntry& face) const {
  const IndexedFace& m = face.meta;
  json out = {{"FaceId", m.face_uuid},
              {"BoundingBox",
               {{"Width", Round6(m.width)},
                {"Height", Round6(m.height)},
                {"Left", Round6(m.left)},
                {"Top", Round6(m.top)}}},
              {"ImageId", m.image_id},
              {"Confidence", Round2(m.confidence)},
              {"IndexFacesModelVersion", model_version_}};
  const std::string& person = face.record.person_id;
  std::string external = m.external_image_id;
  if (!face.indexed_here && !IsAnonymous(person)) {
    const auto p = c.GetPerson(person);
    external = p.ok() && !p->external_id.empty() ? p->external_id : person;
  }
  if (!external.empty()) out["ExternalImageId"] = external;
  if (!IsAnonymous(person)) out["UserId"] = person;
  return out;
}

AwsResult<json> RekognitionService::FaceMatches(const FaceCollection& c, const Embedding& probe,
                                                int max_faces, double threshold,
                                                int64_t exclude_row) {
  const float match_threshold = MatchThreshold();
  // The best face of the top persons is enough for one match; more matches,
  // or leaving out the probe's own face, need every face of those persons.
  const bool every_face = max_faces > 1 || exclude_row != 0;
  std::vector<std::tuple<double, int64_t, std::string>> hits;  // percent, row, person
  const Descriptor query{{c.spaces().front().model, probe}};
  for (const Match& m : c.Search(query, max_faces + (exclude_row ? 1 : 0), SearchMode::kBestFace)) {
    if (!every_face) {
      hits.emplace_back(SimilarityPercent(m.similarity, match_threshold), m.face_id, m.person_id);
      continue;
    }
    auto faces = c.ListFaces(m.person_id);
    if (!faces.ok()) return ServerError(faces.status());
    for (const FaceRecord& f : *faces)
      hits.emplace_back(SimilarityPercent(Cosine(probe, Primary(f.embeddings)), match_threshold),
                        f.id, m.person_id);
  }
  std::stable_sort(hits.begin(), hits.end(), [](const auto& a, const auto& b) {
    return std::get<0>(a) > std::get<0>(b);
  });
  json matches = json::array();
  for (const auto& [percent, row, person] : hits) {
    if (static_cast<int>(matches.size()) >= max_faces) break;
    if (row == exclude_row || percent < threshold) continue;
    auto meta = store_.FaceByRow(c.name(), row);
    if (!meta.ok()) return ServerError(meta.status());
    FaceEntry entry;
    entry.record.id = row;
    entry.record.person_id = person;
    entry.indexed_here = meta->has_value();
    entry.meta = entry.indexed_here ? **meta : DefaultMeta(c.name(), row, 0);
    matches.push_back({{"Similarity", Round2(percent)}, {"Face", FaceJson(c, entry)}});
  }
  return matches;
}

AwsResult<json> RekognitionService::UserMatches(const FaceCollection& c, const Embedding& probe,
                                                int max_users, double threshold,
                                                const std::string& exclude_user) {
  const auto parsed = ParseSearchMode(parts_.config->recognition.search_mode);
  const SearchMode mode = parsed.ok() ? *parsed : SearchMode::kCentroid;
  json matches = json::array();
  const int everyone = static_cast<int>(std::max<size_t>(1, c.person_count()));
  for (const Match& m : c.Search({{c.spaces().front().model, probe}}, everyone, mode)) {
    if (static_cast<int>(matches.size()) >= max_users) break;
    if (IsAnonymous(m.person_id) || m.person_id == exclude_user) continue;
    const double percent = SimilarityPercent(m.similarity, MatchThreshold());
    if (percent < threshold) break;  // best first: the rest score lower
    matches.push_back({{"Similarity", Round2(percent)},
                       {"User", {{"UserId", m.person_id}, {"UserStatus", "ACTIVE"}}}});
  }
  return matches;
}

AwsResult<std::string> RekognitionService::NewAnonymousPerson(FaceCollection& c) {
  unsigned char raw[8];
  randombytes_buf(raw, sizeof(raw));
  char hex[sizeof(raw) * 2 + 1];
  sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
  const std::string id = kAnonymousPrefix + std::string(hex);
  if (Status s = c.AddPerson({id, "Unnamed face " + std::string(hex, 6), "", NowMs()}); !s.ok())
    return ServerError(s);
  return id;
}

AwsResult<std::string> RekognitionService::PersonForExternalId(FaceCollection& c,
                                                               const std::string& external) {
  if (IsAnonymous(external))
    return InvalidParameter("ExternalImageId must not start with " + std::string(kAnonymousPrefix));
  if (auto p = c.FindByExternalId(external); p.ok()) return p->id;
  if (ValidateStoreId(external).ok()) {
    if (c.GetPerson(external).ok()) return external;
    Status added = c.AddPerson({external, external, external, NowMs()});
    if (added.ok()) return external;
    if (added.code() != Status::Code::kAlreadyExists) return ServerError(added);
  }
  auto named = AddPersonNamed(c, external, external);
  if (!named.ok()) return ServerError(named.status());
  return *named;
}

void RekognitionService::DropIfEmptyAnonymous(FaceCollection& c, const std::string& person) {
  if (!IsAnonymous(person)) return;
  auto faces = c.ListFaces(person);
  if (!faces.ok() || !faces->empty()) return;
  if (auto forgotten = c.ForgetPerson(person); !forgotten.ok())
    spdlog::warn("rekognition: empty anonymous person {} stays: {}", person,
                 forgotten.status().ToString());
}

AwsResult<int64_t> RekognitionService::MoveFace(FaceCollection& c, const FaceEntry& face,
                                                const std::string& person) {
  FaceRecord copy = face.record;
  copy.id = 0;
  copy.person_id = person;
  auto row = c.AddFace(copy);
  if (!row.ok()) return ServerError(row.status());
  if (Status s = c.DeleteFace(face.record.id); !s.ok()) {
    c.DeleteFace(*row);
    return ServerError(s);
  }
  IndexedFace meta = face.meta;
  meta.face_id = *row;
  if (Status s = store_.PutFace(meta); !s.ok()) return ServerError(s);
  DropIfEmptyAnonymous(c, face.record.person_id);
  return *row;
}

std::optional<AwsError> RekognitionService::MissingUser(const FaceCollection& c,
                                                        const std::string& user) const {
  if (!IsAnonymous(user) && c.GetPerson(user).ok()) return std::nullopt;
  return Error("ResourceNotFoundException", "The user " + user + " does not exist.");
}

std::string RekognitionService::UserStatus(const FaceCollection& c,
                                           const std::string& user) const {
  auto faces = c.ListFaces(user);
  return faces.ok() && !faces->empty() ? "ACTIVE" : "CREATED";
}

float RekognitionService::MatchThreshold() const {
  // Without a matcher (no office collection here) the pack's prior for a
  // one-person gallery stands in.
  constexpr float kNoGallery = 0.5f;
  return parts_.matcher ? parts_.matcher->calibration().primary_threshold : kNoGallery;
}

std::string RekognitionService::Arn(const std::string& region,
                                    const std::string& collection) const {
  return "arn:aws:rekognition:" + region + ":" + kAccount + ":collection/" + collection;
}

// ---- collections ----

AwsResult<json> RekognitionService::CreateCollection(const json& in, const std::string& region) {
  const std::string id = in["CollectionId"].get<std::string>();
  std::lock_guard lock(write_mu_);
  auto recorded = store_.GetCollection(id);
  if (!recorded.ok()) return ServerError(recorded.status());
  if (IsOffice(id) || *recorded)
    return Error("ResourceAlreadyExistsException", "The collection id: " + id + " already exists");
  if (id == parts_.config->recognition.collection)
    return InvalidParameter("'" + id + "' holds the office's faces; its CollectionId is '" +
                            office_id_ + "'");
  if (!ValidateStoreId(id).ok())
    return InvalidParameter("CollectionId must be 1-128 characters of letters, digits, '.', '_' "
                            "and '-' here");
  if (Status s = store_.AddCollection(id, NowMs()); !s.ok()) return ServerError(s);
  auto opened = Collection(id);
  if (!opened.ok()) {
    store_.RemoveCollection(id);
    return opened.error();
  }
  return json{{"StatusCode", 200},
              {"CollectionArn", Arn(region, id)},
              {"FaceModelVersion", model_version_}};
}

AwsResult<json> RekognitionService::DeleteCollection(const json& in) {
  const std::string id = in["CollectionId"].get<std::string>();
  std::lock_guard lock(write_mu_);
  if (IsOffice(id))
    return Error("AccessDeniedException",
                 "The office collection cannot be deleted through this API.");
  auto c = Collection(id);
  if (!c.ok()) return c.error();
  auto persons = (*c)->ListPersons();
  if (!persons.ok()) return ServerError(persons.status());
  for (const Person& p : *persons) {
    auto keys = (*c)->ForgetPerson(p.id);
    if (!keys.ok()) return ServerError(keys.status());
    for (const auto& key : *keys)
      if (parts_.objects) parts_.objects->Delete(key);
  }
  if (Status s = store_.RemoveCollection(id); !s.ok()) return ServerError(s);
  std::lock_guard open_lock(open_mu_);
  open_.erase(id);
  return json{{"StatusCode", 200}};
}

AwsResult<json> RekognitionService::ListCollections(const json& in) {
  int limit = IntOr(in, "MaxResults", kDefaultPage);
  if (limit <= 0) limit = kDefaultPage;
  auto page = store_.ListCollections(TextOr(in, "NextToken"), limit + 1);
  if (!page.ok()) return ServerError(page.status());
  json ids = json::array(), versions = json::array();
  for (size_t i = 0; i < page->size() && static_cast<int>(i) < limit; ++i) {
    ids.push_back((*page)[i].id);
    versions.push_back(model_version_);
  }
  json out = {{"CollectionIds", ids}, {"FaceModelVersions", versions}};
  if (static_cast<int>(page->size()) > limit) out["NextToken"] = ids.back();
  return out;
}

AwsResult<json> RekognitionService::DescribeCollection(const json& in, const std::string& region) {
  const std::string id = in["CollectionId"].get<std::string>();
  auto c = Collection(id);
  if (!c.ok()) return c.error();
  auto recorded = store_.GetCollection(id);
  if (!recorded.ok()) return ServerError(recorded.status());
  auto persons = (*c)->ListPersons();
  if (!persons.ok()) return ServerError(persons.status());
  const auto users = std::count_if(persons->begin(), persons->end(),
                                   [](const Person& p) { return !IsAnonymous(p.id); });
  return json{{"FaceCount", (*c)->size()},
              {"UserCount", users},
              {"FaceModelVersion", model_version_},
              {"CollectionARN", Arn(region, id)},
              {"CreationTimestamp", *recorded ? (*recorded)->created_ms / 1000.0 : 0.0}};
}

// ---- faces ----

AwsResult<json> RekognitionService::IndexFaces(const json& in) {
  const std::string id = in["CollectionId"].get<std::string>();
  if (auto c = Collection(id); !c.ok()) return c.error();  // before the costly part
  auto picture = ReadPicture(in["Image"]);
  if (!picture.ok()) return picture.error();
  const std::string external = TextOr(in, "ExternalImageId");
  const size_t max_faces = static_cast<size_t>(
      std::clamp(IntOr(in, "MaxFaces", kMaxFacesPerImage), 1, kMaxFacesPerImage));
  const auto bar = BarForFilter(TextOr(in, "QualityFilter", "AUTO"), parts_.config->quality);
  const cv::Mat& image = picture->image;
  json unindexed = json::array();
  std::vector<FaceObservation> accepted;
  for (const Detection& d : picture->faces) {
    const bool wanted = accepted.size() < max_faces;
    auto face = Describe(*picture, d, wanted ? EmbedWith::kAll : EmbedWith::kNone);
    if (!face.ok()) return face.error();
    std::vector<std::string> reasons = QualityReasons(*face, bar);
    if (reasons.empty() && !wanted) reasons.push_back("EXCEEDS_MAX_FACES");
    if (reasons.empty()) {
      accepted.push_back(std::move(*face));
    } else {
      unindexed.push_back({{"Reasons", reasons},
                           {"FaceDetail", FaceDetailJson(*face, image.cols, image.rows)}});
    }
  }

  std::lock_guard lock(write_mu_);
  auto c = Collection(id);  // again: it may have been deleted meanwhile
  if (!c.ok()) return c.error();
  FaceCollection& faces = **c;
  // AWS keeps no duplicates for the same image and ExternalImageId.
  if (!external.empty()) {
    auto earlier = store_.FacesOfImage(faces.name(), picture->image_id);
    if (!earlier.ok()) return ServerError(earlier.status());
    auto index = earlier->empty() ? AwsResult<FaceIndex>(FaceIndex{}) : AllFaces(faces);
    if (!index.ok()) return index.error();
    json records = json::array();
    for (const IndexedFace& m : *earlier) {
      const auto row = index->rows.find(m.face_id);
      if (m.external_image_id != external || row == index->rows.end()) continue;
      records.push_back({{"Face", FaceJson(faces, row->second)},
                         {"FaceDetail",
                          {{"BoundingBox", FaceJson(faces, row->second)["BoundingBox"]},
                           {"Confidence", Round2(m.confidence)}}}});
    }
    if (!records.empty())
      return json{{"FaceRecords", records},
                  {"FaceModelVersion", model_version_},
                  {"UnindexedFaces", json::array()}};
  }

  json records = json::array();
  std::string shared_person;  // every face of an image with an ExternalImageId goes to one person
  for (FaceObservation& face : accepted) {
    std::string person = shared_person;
    if (person.empty()) {
      auto chosen = external.empty() ? NewAnonymousPerson(faces)
                                     : PersonForExternalId(faces, external);
      if (!chosen.ok()) return chosen.error();
      person = *chosen;
      if (!external.empty()) shared_person = person;
    }
    FaceRecord record;
    record.person_id = person;
    record.embeddings = face.embeddings;
    record.quality = face.quality.score;
    record.origin = FaceOrigin::kEnrolled;
    record.created_ms = NowMs();
    if (IsOffice(id) && parts_.objects) {
      // The office's faces are made as faces enrolled in the UI are (no
      // picture in embeddings-only mode).
      auto made = MakeGalleryFace(
          *parts_.engine, parts_.config->retention.embeddings_only ? nullptr : parts_.objects,
          person, image, face, FaceOrigin::kEnrolled);
      if (!made.ok()) return ServerError(made.status());
      record = std::move(*made);
    }
    auto row = faces.AddFace(record);
    if (!row.ok()) {
      if (!record.image_key.empty()) parts_.objects->Delete(record.image_key);
      DropIfEmptyAnonymous(faces, person);
      return ServerError(row.status());
    }
    FaceEntry entry;
    entry.record = record;
    entry.record.id = *row;
    entry.indexed_here = true;
    entry.meta = DefaultMeta(faces.name(), *row, record.created_ms);
    entry.meta.image_id = picture->image_id;
    entry.meta.external_image_id = external;
    const json detail = FaceDetailJson(face, image.cols, image.rows);
    entry.meta.left = detail["BoundingBox"]["Left"].get<float>();
    entry.meta.top = detail["BoundingBox"]["Top"].get<float>();
    entry.meta.width = detail["BoundingBox"]["Width"].get<float>();
    entry.meta.height = detail["BoundingBox"]["Height"].get<float>();
    entry.meta.confidence = detail["Confidence"].get<float>();
    if (Status s = store_.PutFace(entry.meta); !s.ok()) return ServerError(s);
    records.push_back({{"Face", FaceJson(faces, entry)}, {"FaceDetail", detail}});
  }
  return json{{"FaceRecords", records},
              {"FaceModelVersion", model_version_},
              {"UnindexedFaces", unindexed}};
}

AwsResult<json> RekognitionService::ListFaces(const json& in) {
  auto c = Collection(in["CollectionId"].get<std::string>());
  if (!c.ok()) return c.error();
  auto index = AllFaces(**c);
  if (!index.ok()) return index.error();
  int64_t after = 0;
  if (const std::string token = TextOr(in, "NextToken"); !token.empty()) {
    const auto row = RowFromFaceId(token);
    if (!row) return Error("InvalidPaginationTokenException", "Invalid pagination token.");
    after = *row;
  }
  int limit = IntOr(in, "MaxResults", kDefaultPage);
  if (limit <= 0) limit = kDefaultPage;
  const std::string user = TextOr(in, "UserId");
  std::set<std::string> wanted;
  for (const auto& f : in.value("FaceIds", json::array())) wanted.insert(f.get<std::string>());
  json faces = json::array();
  std::string next;
  for (auto it = index->rows.upper_bound(after); it != index->rows.end(); ++it) {
    const FaceEntry& face = it->second;
    if (!user.empty() && face.record.person_id != user) continue;
    if (!wanted.empty() && !wanted.count(face.meta.face_uuid)) continue;
    if (static_cast<int>(faces.size()) == limit) {
      next = FaceIdForRow(std::prev(it)->first);
      break;
    }
    faces.push_back(FaceJson(**c, face));
  }
  json out = {{"Faces", faces}, {"FaceModelVersion", model_version_}};
  if (!next.empty()) out["NextToken"] = next;
  return out;
}

AwsResult<json> RekognitionService::DeleteFaces(const json& in) {
  std::lock_guard lock(write_mu_);
  auto c = Collection(in["CollectionId"].get<std::string>());
  if (!c.ok()) return c.error();
  auto index = AllFaces(**c);
  if (!index.ok()) return index.error();
  json deleted = json::array(), failed = json::array();
  std::set<std::string> seen;
  for (const auto& id : in["FaceIds"]) {
    const std::string uuid = id.get<std::string>();
    if (!seen.insert(uuid).second) continue;
    const auto row = index->RowOf(uuid);
    if (!row) {
      failed.push_back({{"FaceId", uuid}, {"Reasons", {"FACE_NOT_FOUND"}}});
      continue;
    }
    const FaceRecord& face = index->rows.at(*row).record;
    if (Status s = (*c)->DeleteFace(*row); !s.ok()) return ServerError(s);
    if (Status s = store_.RemoveFaceRow(*row); !s.ok())
      spdlog::warn("rekognition: metadata of deleted face {} stays: {}", *row, s.ToString());
    if (!face.image_key.empty() && parts_.objects) parts_.objects->Delete(face.image_key);
    DropIfEmptyAnonymous(**c, face.person_id);
    deleted.push_back(uuid);
  }
  return json{{"DeletedFaces", deleted}, {"UnsuccessfulFaceDeletions", failed}};
}

AwsResult<json> RekognitionService::SearchFaces(const json& in) {
  auto c = Collection(in["CollectionId"].get<std::string>());
  if (!c.ok()) return c.error();
  const std::string uuid = in["FaceId"].get<std::string>();
  auto index = AllFaces(**c);
  if (!index.ok()) return index.error();
  const auto row = index->RowOf(uuid);
  if (!row) return InvalidParameter("Face " + uuid + " is not in collection " + (*c)->name() + ".");
  auto matches = FaceMatches(**c, Primary(index->rows.at(*row).record.embeddings),
                             IntOr(in, "MaxFaces", kDefaultMaxFaces),
                             NumberOr(in, "FaceMatchThreshold", kDefaultMatchThreshold), *row);
  if (!matches.ok()) return matches.error();
  return json{{"SearchedFaceId", uuid},
              {"FaceMatches", *matches},
              {"FaceModelVersion", model_version_}};
}

AwsResult<json> RekognitionService::SearchFacesByImage(const json& in) {
  auto c = Collection(in["CollectionId"].get<std::string>());
  if (!c.ok()) return c.error();
  auto picture = ReadPicture(in["Image"]);
  if (!picture.ok()) return picture.error();
  const cv::Mat& image = picture->image;
  if (picture->faces.empty()) return InvalidParameter(kNoFaceMessage);
  auto face = Describe(*picture, picture->faces.front(), EmbedWith::kPrimary);
  if (!face.ok()) return face.error();
  const auto bar = BarForFilter(TextOr(in, "QualityFilter", "NONE"), parts_.config->quality);
  if (const auto reasons = QualityReasons(*face, bar); !reasons.empty())
    return InvalidParameter(std::string(kNoFaceMessage) +
                            " The largest face fails QualityFilter: " + json(reasons).dump() + ".");
  auto matches = FaceMatches(**c, Primary(face->embeddings), IntOr(in, "MaxFaces", kDefaultMaxFaces),
                             NumberOr(in, "FaceMatchThreshold", kDefaultMatchThreshold), 0);
  if (!matches.ok()) return matches.error();
  return json{{"SearchedFaceBoundingBox", BoundingBoxJson(face->box, image.cols, image.rows)},
              {"SearchedFaceConfidence", Round2(face->detector_score * 100.0)},
              {"FaceMatches", *matches},
              {"FaceModelVersion", model_version_}};
}

// ---- users ----

AwsResult<json> RekognitionService::CreateUser(const json& in) {
  auto c = Collection(in["CollectionId"].get<std::string>());
  if (!c.ok()) return c.error();
  const std::string user = in["UserId"].get<std::string>();
  if (IsAnonymous(user) || !ValidateStoreId(user).ok())
    return InvalidParameter("UserId must be 1-128 characters of letters, digits, '.', '_' and '-' "
                            "here, not starting with " + std::string(kAnonymousPrefix));
  if ((*c)->GetPerson(user).ok())
    return Error("ConflictException", "A user with the same Id already exists within the "
                                      "collection.");
  if (Status s = (*c)->AddPerson({user, user, "", NowMs()}); !s.ok()) return ServerError(s);
  return json::object();
}

AwsResult<json> RekognitionService::DeleteUser(const json& in) {
  auto c = Collection(in["CollectionId"].get<std::string>());
  if (!c.ok()) return c.error();
  const std::string user = in["UserId"].get<std::string>();
  if (auto missing = MissingUser(**c, user)) return *missing;
  auto index = AllFaces(**c);
  if (!index.ok()) return index.error();
  // As AWS: the user's faces stay in the collection, associated with nobody.
  for (const auto& [row, face] : index->rows) {
    if (face.record.person_id != user) continue;
    auto anonymous = NewAnonymousPerson(**c);
    if (!anonymous.ok()) return anonymous.error();
    if (auto moved = MoveFace(**c, face, *anonymous); !moved.ok()) return moved.error();
  }
  auto keys = (*c)->ForgetPerson(user);
  if (!keys.ok()) return ServerError(keys.status());
  return json::object();
}

AwsResult<json> RekognitionService::ListUsers(const json& in) {
  auto c = Collection(in["CollectionId"].get<std::string>());
  if (!c.ok()) return c.error();
  auto persons = (*c)->ListPersons();  // by id
  if (!persons.ok()) return ServerError(persons.status());
  const std::string after = TextOr(in, "NextToken");
  const int limit = std::clamp(IntOr(in, "MaxResults", kMaxUserPage), 1, kMaxUserPage);
  json users = json::array();
  std::string next;
  for (const Person& p : *persons) {
    if (IsAnonymous(p.id) || p.id <= after) continue;
    if (static_cast<int>(users.size()) == limit) {
      next = users.back()["UserId"];
      break;
    }
    users.push_back({{"UserId", p.id}, {"UserStatus", UserStatus(**c, p.id)}});
  }
  json out = {{"Users", users}};
  if (!next.empty()) out["NextToken"] = next;
  return out;
}

AwsResult<json> RekognitionService::MoveUserFaces(const json& in, const char* done_key,
                                                  const char* failed_key, const FaceStep& step) {
  auto c = Collection(in["CollectionId"].get<std::string>());
  if (!c.ok()) return c.error();
  const std::string user = in["UserId"].get<std::string>();
  if (auto missing = MissingUser(**c, user)) return *missing;
  auto index = AllFaces(**c);
  if (!index.ok()) return index.error();
  json done = json::array(), failed = json::array();
  for (const auto& id : in["FaceIds"]) {
    const std::string uuid = id.get<std::string>();
    const auto row = index->RowOf(uuid);
    if (!row) {
      failed.push_back({{"FaceId", uuid}, {"Reasons", {"FACE_NOT_FOUND"}}});
      continue;
    }
    const FaceEntry& face = index->rows.at(*row);
    const std::string& holder = face.record.person_id;
    std::optional<json> refusal;
    if (holder != user && !IsAnonymous(holder))
      refusal = json{{"UserId", holder}, {"Reasons", {"ASSOCIATED_TO_A_DIFFERENT_USER"}}};
    auto target = refusal ? AwsResult<std::string>("") : step(**c, *index, face, user, &refusal);
    if (!target.ok()) return target.error();
    if (refusal) {
      (*refusal)["FaceId"] = uuid;
      failed.push_back(std::move(*refusal));
    } else if (!target->empty()) {
      if (auto moved = MoveFace(**c, face, *target); !moved.ok()) return moved.error();
      done.push_back({{"FaceId", uuid}});
    }
  }
  return json{{done_key, done}, {failed_key, failed}, {"UserStatus", UserStatus(**c, user)}};
}

AwsResult<json> RekognitionService::AssociateFaces(const json& in) {
  const double threshold = NumberOr(in, "UserMatchThreshold", kDefaultUserAssociationThreshold);
  const float match_threshold = MatchThreshold();
  std::optional<std::vector<Embedding>> own;  // the user's faces before this request
  return MoveUserFaces(
      in, "AssociatedFaces", "UnsuccessfulFaceAssociations",
      [&](FaceCollection&, const FaceIndex& index, const FaceEntry& face,
          const std::string& user, std::optional<json>* refusal) -> AwsResult<std::string> {
        if (face.record.person_id == user) return std::string();  // already theirs: left out
        if (!own) {
          own.emplace();
          for (const auto& [row, f] : index.rows)
            if (f.record.person_id == user) own->push_back(Primary(f.record.embeddings));
        }
        double best = own->empty() ? 100 : 0;
        for (const Embedding& mine : *own)
          best = std::max(best, SimilarityPercent(Cosine(Primary(face.record.embeddings), mine),
                                                  match_threshold));
        if (best < threshold) {
          *refusal = json{{"UserId", user},
                          {"Confidence", Round2(best)},
                          {"Reasons", {"LOW_MATCH_CONFIDENCE"}}};
          return std::string();
        }
        return user;
      });
}

AwsResult<json> RekognitionService::DisassociateFaces(const json& in) {
  return MoveUserFaces(
      in, "DisassociatedFaces", "UnsuccessfulFaceDisassociations",
      [this](FaceCollection& c, const FaceIndex&, const FaceEntry& face, const std::string&,
             std::optional<json>*) -> AwsResult<std::string> {
        // A face associated with nobody already is left out.
        if (IsAnonymous(face.record.person_id)) return std::string();
        return NewAnonymousPerson(c);
      });
}

AwsResult<json> RekognitionService::SearchUsers(const json& in) {
  auto c = Collection(in["CollectionId"].get<std::string>());
  if (!c.ok()) return c.error();
  const std::string face_id = TextOr(in, "FaceId"), user = TextOr(in, "UserId");
  if (face_id.empty() == user.empty())
    return InvalidParameter("Provide either FaceId or UserId.");
  const double threshold = NumberOr(in, "UserMatchThreshold", kDefaultMatchThreshold);
  const int max_users = IntOr(in, "MaxUsers", kDefaultMaxUsers);
  json out = {{"FaceModelVersion", model_version_}};
  Embedding probe;
  if (!face_id.empty()) {
    auto index = AllFaces(**c);
    if (!index.ok()) return index.error();
    const auto row = index->RowOf(face_id);
    if (!row)
      return Error("ResourceNotFoundException", "Face " + face_id + " is not in collection " +
                                                    (*c)->name() + ".");
    probe = Primary(index->rows.at(*row).record.embeddings);
    out["SearchedFace"] = {{"FaceId", face_id}};
  } else {
    if (auto missing = MissingUser(**c, user)) return *missing;
    auto faces = (*c)->ListFaces(user);
    if (!faces.ok()) return ServerError(faces.status());
    probe = Centroid(*faces, (*c)->spaces().front().model);
    out["SearchedUser"] = {{"UserId", user}};
  }
  auto matches = probe.empty() ? AwsResult<json>(json::array())
                               : UserMatches(**c, probe, max_users, threshold, user);
  if (!matches.ok()) return matches.error();
  out["UserMatches"] = *matches;
  return out;
}

AwsResult<json> RekognitionService::SearchUsersByImage(const json& in) {
  auto c = Collection(in["CollectionId"].get<std::string>());
  if (!c.ok()) return c.error();
  auto picture = ReadPicture(in["Image"]);
  if (!picture.ok()) return picture.error();
  const cv::Mat& image = picture->image;
  const auto bar = BarForFilter(TextOr(in, "QualityFilter", "NONE"), parts_.config->quality);
  json out = {{"FaceModelVersion", model_version_}, {"UserMatches", json::array()}};
  json unsearched = json::array();
  bool largest = true;
  for (const Detection& d : picture->faces) {
    auto face = Describe(*picture, d, largest ? EmbedWith::kPrimary : EmbedWith::kNone);
    if (!face.ok()) return face.error();
    std::vector<std::string> reasons = QualityReasons(*face, bar);
    if (!largest) reasons.insert(reasons.begin(), "FACE_NOT_LARGEST");
    const json detail = FaceDetailJson(*face, image.cols, image.rows);
    if (largest && reasons.empty()) {
      auto matches =
          UserMatches(**c, Primary(face->embeddings), IntOr(in, "MaxUsers", kDefaultMaxUsers),
                      NumberOr(in, "UserMatchThreshold", kDefaultMatchThreshold), "");
      if (!matches.ok()) return matches.error();
      out["UserMatches"] = *matches;
      out["SearchedFace"] = {{"FaceDetail", detail}};
    } else {
      unsearched.push_back({{"FaceDetails", detail}, {"Reasons", reasons}});
    }
    largest = false;
  }
  out["UnsearchedFaces"] = unsearched;
  return out;
}

// ---- stateless ----

AwsResult<json> RekognitionService::DetectFaces(const json& in) {
  auto picture = ReadPicture(in["Image"]);
  if (!picture.ok()) return picture.error();
  json details = json::array();
  for (const Detection& d : picture->faces) {
    auto face = Describe(*picture, d, EmbedWith::kNone);
    if (!face.ok()) return face.error();
    details.push_back(FaceDetailJson(*face, picture->image.cols, picture->image.rows));
  }
  return json{{"FaceDetails", details}};
}

AwsResult<json> RekognitionService::CompareFaces(const json& in) {
  auto source = ReadPicture(in["SourceImage"]);
  if (!source.ok()) return source.error();
  auto target = ReadPicture(in["TargetImage"]);
  if (!target.ok()) return target.error();
  const auto bar = BarForFilter(TextOr(in, "QualityFilter", "NONE"), parts_.config->quality);
  const double threshold = NumberOr(in, "SimilarityThreshold", kDefaultMatchThreshold);
  const float match_threshold = MatchThreshold();

  const cv::Mat& src = source->image;
  if (source->faces.empty()) return InvalidParameter("There are no faces in the source image.");
  auto probe = Describe(*source, source->faces.front(), EmbedWith::kPrimary);
  if (!probe.ok()) return probe.error();
  if (!QualityReasons(*probe, bar).empty())
    return InvalidParameter("The largest face of the source image fails QualityFilter.");

  const cv::Mat& dst = target->image;
  std::vector<std::pair<double, json>> matched;
  json unmatched = json::array();
  for (const Detection& d : target->faces) {
    auto face = Describe(*target, d, EmbedWith::kPrimary);
    if (!face.ok()) return face.error();
    if (!QualityReasons(*face, bar).empty()) continue;  // filtered faces are not compared
    const double percent =
        SimilarityPercent(Cosine(Primary(probe->embeddings), Primary(face->embeddings)),
                          match_threshold);
    json compared = FaceDetailJson(*face, dst.cols, dst.rows);
    if (percent >= threshold) matched.emplace_back(percent, std::move(compared));
    else unmatched.push_back(std::move(compared));
  }
  std::stable_sort(matched.begin(), matched.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  json matches = json::array();
  for (auto& [percent, face] : matched)
    matches.push_back({{"Similarity", Round2(percent)}, {"Face", std::move(face)}});
  return json{{"SourceImageFace",
               {{"BoundingBox", BoundingBoxJson(probe->box, src.cols, src.rows)},
                {"Confidence", Round2(probe->detector_score * 100.0)}}},
              {"FaceMatches", matches},
              {"UnmatchedFaces", unmatched}};
}

}  // namespace concierge
