#include "pipeline/face_search.h"

#include <algorithm>
#include <map>

#include "vision/embedder.h"

namespace concierge {

Result<Embedding> SearchProbe(FaceEngine& engine, const cv::Mat& bgr) {
  ASSIGN_OR_RETURN(const std::vector<FaceObservation> faces,
                   engine.Analyze(bgr, {.embed = EmbedWith::kPrimary, .anti_spoof = false}));
  const FaceObservation* largest = nullptr;
  for (const FaceObservation& f : faces)
    if (f.human && (!largest || f.box.w * f.box.h > largest->box.w * largest->box.h)) largest = &f;
  if (!largest) return Status::NoFace("no human face in the photo to search for");
  const Embedding* probe = FindEmbedding(largest->embeddings, engine.embedders().front().id);
  if (!probe) return Status::Internal("the face has no vector of the primary model");
  return *probe;
}

Result<std::vector<VisitHit>> FindVisitsOfFace(SightingStore& sightings, const Embedding& probe,
                                               float threshold, int64_t since_ms, int limit) {
  if (probe.empty()) return Status::InvalidArgument("search: no face vector to search with");
  std::map<int64_t, VisitHit> best;  // by visit id
  // Page by page, so memory stays bounded however many sightings there are.
  constexpr int kPage = 1000;
  SightingQuery query{.since_ms = since_ms, .limit = kPage};
  for (;;) {
    ASSIGN_OR_RETURN(const std::vector<SightingRecord> page, sightings.List(query));
    for (const SightingRecord& s : page) {
      if (!s.visit_id || s.embedding.size() != probe.size()) continue;
      const float similarity = Dot(probe, s.embedding);
      if (similarity < threshold) continue;
      VisitHit& hit = best[*s.visit_id];
      if (hit.sighting_id.empty() || similarity > hit.similarity) {
        hit.similarity = similarity;
        hit.sighting_id = s.id;
      }
    }
    if (page.size() < static_cast<size_t>(kPage)) break;
    query.after = SightingCursor{page.back().captured_ms, page.back().id};
  }
  std::vector<VisitHit> hits;
  for (auto& [visit_id, hit] : best) {
    Result<VisitRecord> visit = sightings.GetVisit(visit_id);
    if (visit.status().code() == Status::Code::kNotFound) continue;  // gone with retention
    RETURN_IF_ERROR(visit.status());
    hit.visit = std::move(*visit);
    hits.push_back(std::move(hit));
  }
  std::sort(hits.begin(), hits.end(), [](const VisitHit& a, const VisitHit& b) {
    return a.visit.started_ms != b.visit.started_ms ? a.visit.started_ms > b.visit.started_ms
                                                    : a.visit.id > b.visit.id;
  });
  if (limit > 0 && hits.size() > static_cast<size_t>(limit)) hits.resize(limit);
  return hits;
}

}  // namespace concierge
