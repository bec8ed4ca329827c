#include "pipeline/reindex.h"

#include <map>
#include <set>
#include <utility>

#include <spdlog/spdlog.h>

#include "pipeline/matcher.h"
#include "pipeline/recognise.h"

namespace concierge {

namespace {

// True when the face has a vector of every model searched with and of no other.
bool Current(const FaceRecord& face, const std::vector<VectorSpace>& spaces) {
  if (face.embeddings.size() != spaces.size()) return false;
  for (const VectorSpace& s : spaces)
    if (FindEmbedding(face.embeddings, s.model) == nullptr) return false;
  return true;
}

// Every model's vector of the face in a stored picture: at its recorded box,
// else the face the picture was cut around. Pictures from before boxes were
// recorded may be tight aligned crops the detector misses; those are the face.
Result<Descriptor> EmbedPicture(FaceEngine& engine, const std::string& jpeg, const Box& box,
                                const ImageLimits& limits) {
  if (box.w > 0) {
    ASSIGN_OR_RETURN(FaceView view, DescribeSightingFace(engine, jpeg, {box}, limits));
    return view.face.embeddings;
  }
  auto view = DescribeSightingFace(engine, jpeg, {}, limits);
  if (view.status().code() == Status::Code::kNoFace) {
    ASSIGN_OR_RETURN(cv::Mat image, DecodeImage(jpeg, limits));
    const Box whole{image.cols * 0.12f, image.rows * 0.1f, image.cols * 0.76f, image.rows * 0.85f};
    view = DescribeSightingFace(engine, jpeg, {whole}, limits);
  }
  RETURN_IF_ERROR(view.status());
  return view->face.embeddings;
}

}  // namespace

Result<ReindexOutcome> Reindex(FaceEngine& engine, FaceCollection& faces, ObjectStore& objects,
                               SightingStore* sightings, const ImageLimits& limits,
                               const ReindexProgress& progress) {
  RETURN_IF_ERROR(CheckCollectionModels(faces, engine.embedders()));
  const std::vector<VectorSpace>& spaces = faces.spaces();
  ReindexOutcome out;
  ASSIGN_OR_RETURN(const std::vector<FaceRecord> all, faces.ListAllFaces());
  out.faces = all.size();
  for (size_t i = 0; i < all.size(); ++i) {
    const FaceRecord& face = all[i];
    if (Current(face, spaces)) {
      ++out.current;
    } else {
      Result<std::string> jpeg = face.image_key.empty()
                                     ? Result<std::string>(Status::NotFound("no picture"))
                                     : objects.Get(face.image_key);
      Result<Descriptor> vectors =
          jpeg.ok() ? EmbedPicture(engine, *jpeg, face.box, limits) : jpeg.status();
      const Status::Code code = vectors.status().code();
      if (code == Status::Code::kNotFound || code == Status::Code::kNoFace ||
          code == Status::Code::kInvalidArgument) {
        ++out.unreadable;
        spdlog::warn("reindex: face {} of {} stays out of search: {}", face.id, face.person_id,
                     vectors.status().message());
      } else {
        RETURN_IF_ERROR(vectors.status());
        RETURN_IF_ERROR(faces.ReplaceEmbeddings(face, *vectors));
        ++out.reembedded;
      }
    }
    if (progress) progress(i + 1, all.size());
  }

  // "Not me" examples come from sightings: embed their picture again, once
  // per sighting, then drop the rows of other models.
  std::set<std::string> models;
  for (const VectorSpace& s : spaces) models.insert(s.model);
  ASSIGN_OR_RETURN(const std::vector<NegativeRecord> negatives, faces.ListNegatives());
  std::map<std::pair<std::string, std::string>, std::vector<int64_t>> stale;  // (person, sighting)
  std::set<std::pair<std::string, std::string>> current;
  for (const NegativeRecord& n : negatives) {
    const auto key = std::make_pair(n.person_id, n.sighting_id);
    if (models.count(n.model)) current.insert(key);
    else stale[key].push_back(n.id);
  }
  for (const auto& [key, ids] : stale) {
    bool remade = current.count(key) > 0;
    if (!remade && sightings && !key.second.empty()) {
      Result<SightingRecord> s = sightings->Get(key.second);
      Result<std::string> jpeg =
          s.ok() && !s->image_key.empty() ? objects.Get(s->image_key) : Result<std::string>(Status::NotFound(""));
      if (jpeg.ok()) {
        Result<FaceView> view = DescribeSightingFace(engine, *jpeg, s->faces, limits);
        if (view.ok()) {
          RETURN_IF_ERROR(faces.AddNegative(key.first, view->face.embeddings, key.second));
          remade = true;
        }
      }
    }
    for (const int64_t id : ids) RETURN_IF_ERROR(faces.DeleteNegative(id));
    ++(remade ? out.negatives_reembedded : out.negatives_dropped);
  }
  return out;
}

}  // namespace concierge
