#include "pipeline/gallery.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/hash.h"
#include "vision/face_quality.h"
#include "vision/image_io.h"

namespace concierge {

namespace {

// The face box is kept with this much of its width and height on each side,
// so any embedder's template (some frame the face more widely) can re-embed it.
constexpr float kMargin = 0.5f;
// A face this close to one already in the gallery adds nothing.
constexpr float kNearCopy = 0.9f;

// The primary vector of a stored face, or null.
const Embedding* Primary(const FaceRecord& f, const std::string& model) {
  return FindEmbedding(f.embeddings, model);
}

// The highest primary cosine between `v` and the faces, skipping index `skip`.
float MostSimilar(const Embedding& v, const std::vector<FaceRecord>& faces,
                  const std::string& model, size_t skip) {
  float best = -1;
  for (size_t i = 0; i < faces.size(); ++i) {
    const Embedding* other = Primary(faces[i], model);
    if (i != skip && other) best = std::max(best, Dot(v, *other));
  }
  return best;
}

}  // namespace

Result<FaceRecord> MakeGalleryFace(FaceEngine& engine, ObjectStore* pictures,
                                   const std::string& person_id, const cv::Mat& image,
                                   FaceObservation& face, FaceOrigin origin) {
  if (!face.human) return Status::InvalidArgument("not a human face");
  for (size_t i = 0; i < engine.embedders().size(); ++i)
    RETURN_IF_ERROR(engine.AddEmbedding(image, i, face));
  FaceRecord record;
  record.person_id = person_id;
  record.embeddings = face.embeddings;
  record.quality = face.quality.score;
  record.origin = origin;
  record.created_ms = NowMs();
  if (pictures == nullptr) return record;
  const Box& b = face.box;
  const cv::Rect crop = cv::Rect(static_cast<int>(b.x - b.w * kMargin),
                                 static_cast<int>(b.y - b.h * kMargin),
                                 static_cast<int>(b.w * (1 + 2 * kMargin)),
                                 static_cast<int>(b.h * (1 + 2 * kMargin))) &
                        cv::Rect(0, 0, image.cols, image.rows);
  if (crop.width < 2 || crop.height < 2) return Status::InvalidArgument("face box is outside the image");
  ASSIGN_OR_RETURN(std::string jpeg, EncodeJpeg(image(crop), 92));
  record.image_key = "faces/" + person_id + "/" + Sha256Hex(jpeg).substr(0, 24) + ".jpg";
  record.box = {b.x - static_cast<float>(crop.x), b.y - static_cast<float>(crop.y), b.w, b.h};
  RETURN_IF_ERROR(pictures->Put(record.image_key, jpeg));
  return record;
}

Result<int64_t> AddGalleryFace(FaceEngine& engine, ObjectStore* pictures, FaceCollection& faces,
                               const std::string& person_id, const cv::Mat& image,
                               FaceObservation& face, FaceOrigin origin,
                               const std::string& sighting_id) {
  ASSIGN_OR_RETURN(FaceRecord record,
                   MakeGalleryFace(engine, pictures, person_id, image, face, origin));
  record.sighting_id = sighting_id;
  auto id = faces.AddFace(record);
  if (!id.ok() && pictures) pictures->Delete(record.image_key);  // no orphan picture
  return id;
}

Result<int64_t> AddGalleryVectors(FaceCollection& faces, const std::string& person_id,
                                  const SightingRecord& sighting, FaceOrigin origin) {
  FaceRecord record;
  record.person_id = person_id;
  record.embeddings = sighting.descriptor;
  record.quality = sighting.quality.score;
  record.origin = origin;
  record.created_ms = NowMs();
  record.sighting_id = sighting.id;
  return faces.AddFace(record);
}

Result<int64_t> GalleryLearner::Consider(FaceEngine& engine, const MatchDecision& decision,
                                         FaceView& best, float live_score,
                                         const std::string& sighting_id) {
  if (!decision.confident || !decision.person_id || best.image.empty()) return int64_t{0};
  if (!QualityRejection(best.face.quality, gate_).empty()) return int64_t{0};
  if (live_score >= 0 && live_score < min_live_) return int64_t{0};
  const std::string& model = engine.embedders()[0].id;
  const Embedding* candidate = FindEmbedding(best.face.embeddings, model);
  if (candidate == nullptr) return int64_t{0};
  const std::string& person = *decision.person_id;

  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(const std::vector<FaceRecord> gallery, faces_->ListFaces(person));
  const float closest = MostSimilar(*candidate, gallery, model, gallery.size());
  if (closest >= kNearCopy) return int64_t{0};
  int64_t replace = 0;
  if (gallery.size() >= static_cast<size_t>(cap_)) {
    // The most redundant learned face: the one closest to the rest.
    float redundancy = -2;
    for (size_t i = 0; i < gallery.size(); ++i) {
      const Embedding* v = Primary(gallery[i], model);
      if (gallery[i].origin != FaceOrigin::kLearned || v == nullptr) continue;
      const float r = MostSimilar(*v, gallery, model, i);
      if (r > redundancy) {
        redundancy = r;
        replace = gallery[i].id;
      }
    }
    // Replacing it must leave the gallery more diverse than keeping it.
    if (replace == 0 || closest >= redundancy) return int64_t{0};
  }
  ASSIGN_OR_RETURN(const int64_t id,
                   AddGalleryFace(engine, keep_pictures_ ? objects_ : nullptr, *faces_, person,
                                  best.image, best.face, FaceOrigin::kLearned, sighting_id));
  if (replace != 0) {
    RETURN_IF_ERROR(faces_->DeleteFace(replace));
    for (const FaceRecord& f : gallery)
      if (f.id == replace && !f.image_key.empty()) objects_->Delete(f.image_key);
  }
  spdlog::info("gallery: learned face {} of {} (closest existing {:.2f}{})", id, person, closest,
               replace ? ", replacing face " + std::to_string(replace) : "");
  return id;
}

}  // namespace concierge
