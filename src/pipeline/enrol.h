// Enrolment: teaching a person's face from a photo. The one code path behind
// `concierge enroll` and POST /api/v1/people/{id}/faces.
#pragma once

#include <cstdint>
#include <opencv2/core.hpp>
#include <optional>
#include <string>

#include "core/config.h"
#include "core/status.h"
#include "core/types.h"

namespace concierge {

class FaceCollection;
class FaceEngine;
class ObjectStore;

// What enrolment works on; the caller owns them.
struct EnrolParts {
  FaceEngine* engine = nullptr;
  FaceCollection* faces = nullptr;
  ObjectStore* objects = nullptr;  // null: the face keeps no picture (embeddings-only mode)
  QualityGate gate;
};

// Whose face a photo teaches, and how strictly.
struct EnrolRequest {
  std::string person_id;      // a valid store id
  std::string display_name;   // used only when the person is created; empty: the id
  bool create_person = true;  // false: kNotFound unless the person exists
  bool largest = false;       // several faces: take the largest instead of refusing
};

// An accepted photo: the stored face and its measured quality.
struct EnrolOutcome {
  int64_t face_id = 0;
  FaceQuality quality;
};

// What was seen in a photo, accepted or not, to explain the verdict.
struct EnrolFindings {
  int faces_found = 0;  // detections, human or not
  int not_human = 0;    // of those, the ones the human-face check refused
  std::optional<FaceQuality> quality;  // of the face judged by the gate
};

// Needs non-null parts (but objects) and a decoded BGR photo. Finds the one human face (or
// with `largest` the biggest), checks it against the quality gate, stores it
// (MakeGalleryFace: every embedder's vector, the face picture under
// faces/<person>/) under the person (created with its first accepted face
// when allowed). Errors: kNoFace (nothing detected), kInvalidArgument
// ("rejected: not a human face", several faces, or the gate's reason),
// kNotFound; nothing is stored then. `findings`, when given, is filled also when the photo is refused.
Result<EnrolOutcome> EnrolPhoto(const EnrolParts& parts, const EnrolRequest& request,
                                const cv::Mat& image, EnrolFindings* findings = nullptr);

// Needs a non-empty display name. Adds a person with an id made from it
// ("Ada Lovelace" -> "ada-lovelace", then "ada-lovelace-2", ...) and the
// external id (may be empty), and returns the id. kAlreadyExists when another
// person has that external id.
Result<std::string> AddPersonNamed(FaceCollection& faces, const std::string& display_name,
                                   const std::string& external_id = "");

// The picture key of face `face_id`, or kNotFound (no such face, or no picture).
// Walks the persons: fine for an office gallery, not for millions of faces.
Result<std::string> FindFaceImageKey(const FaceCollection& faces, int64_t face_id);

}  // namespace concierge
