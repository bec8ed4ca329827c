#include "pipeline/enrol.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include <cstdio>

#include "core/clock.h"
#include "pipeline/gallery.h"
#include "store/face_collection.h"
#include "store/object_store.h"
#include "vision/face_engine.h"
#include "vision/face_quality.h"
#include "vision/image_io.h"

namespace concierge {

namespace {

std::string FormatScore(float score) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%.2f", score);
  return buf;
}

}  // namespace

Result<EnrolOutcome> EnrolPhoto(const EnrolParts& parts, const EnrolRequest& request,
                                const cv::Mat& image, EnrolFindings* findings) {
  RETURN_IF_ERROR(ValidateStoreId(request.person_id));
  const bool exists = parts.faces->GetPerson(request.person_id).ok();
  if (!exists && !request.create_person)
    return Status::NotFound("no person '" + request.person_id + "'");
  ASSIGN_OR_RETURN(std::vector<FaceObservation> found,
                   parts.engine->Analyze(image, {.embed = EmbedWith::kNone, .anti_spoof = false}));
  if (findings) findings->faces_found = static_cast<int>(found.size());
  if (found.empty()) return Status::NoFace("no face found in the photo");
  std::vector<FaceObservation> faces;
  for (auto& f : found)
    if (f.human) faces.push_back(std::move(f));
  if (findings) findings->not_human = static_cast<int>(found.size() - faces.size());
  if (faces.empty())
    return Status::InvalidArgument("rejected: not a human face (human-face check " +
                                   FormatScore(found.front().human_score) + " < 0.50)");
  if (faces.size() > 1 && !request.largest)
    return Status::InvalidArgument(std::to_string(faces.size()) +
                                   " faces in the photo; enrol a photo with one face");
  auto& face =
      *std::max_element(faces.begin(), faces.end(),
                        [](const auto& a, const auto& b) { return a.box.area() < b.box.area(); });
  if (findings) findings->quality = face.quality;
  const std::string reason = QualityRejection(face.quality, parts.gate);
  if (!reason.empty()) return Status::InvalidArgument("rejected: " + reason);
  // The person appears with their first accepted photo, never empty.
  if (!exists) {
    const std::string& name =
        request.display_name.empty() ? request.person_id : request.display_name;
    RETURN_IF_ERROR(parts.faces->AddPerson({request.person_id, name, "", NowMs()}));
  }
  ASSIGN_OR_RETURN(const int64_t id,
                   AddGalleryFace(*parts.engine, parts.objects, *parts.faces, request.person_id,
                                  image, face, FaceOrigin::kEnrolled));
  return EnrolOutcome{id, face.quality};
}

namespace {

// Lower-case ASCII letters and digits with '-' between words; "person" when
// nothing is left.
std::string IdFromName(const std::string& name) {
  std::string out;
  for (unsigned char ch : name) {
    if (std::isalnum(ch) && ch < 128) {
      out += static_cast<char>(std::tolower(ch));
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  if (out.size() > 64) out.resize(64);
  return out.empty() ? "person" : out;
}

}  // namespace

Result<std::string> AddPersonNamed(FaceCollection& faces, const std::string& display_name,
                                   const std::string& external_id) {
  const std::string base = IdFromName(display_name);
  for (int n = 1; n < 1000; ++n) {
    Person person{n == 1 ? base : base + "-" + std::to_string(n), display_name, external_id,
                  NowMs()};
    Status added = faces.AddPerson(person);
    if (added.ok()) return person.id;
    if (added.code() != Status::Code::kAlreadyExists) return added;
    if (!external_id.empty() && faces.FindByExternalId(external_id).ok())
      return Status::AlreadyExists("external id " + external_id + " belongs to another person");
  }
  return Status::AlreadyExists("no free person id for '" + display_name + "'");
}

Result<std::string> FindFaceImageKey(const FaceCollection& faces, int64_t face_id) {
  ASSIGN_OR_RETURN(std::vector<Person> people, faces.ListPersons());
  for (const auto& person : people) {
    ASSIGN_OR_RETURN(std::vector<FaceRecord> list, faces.ListFaces(person.id));
    for (const auto& face : list) {
      if (face.id != face_id) continue;
      if (face.image_key.empty())
        return Status::NotFound("face " + std::to_string(face_id) + " has no picture");
      return face.image_key;
    }
  }
  return Status::NotFound("no face " + std::to_string(face_id));
}

}  // namespace concierge
