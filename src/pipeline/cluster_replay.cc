#include "pipeline/cluster_replay.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace concierge {

Result<ClusteringScore> ReplayClustering(StrangerClusters& clusters,
                                         std::vector<LabelledFace> faces) {
  std::stable_sort(faces.begin(), faces.end(), [](const LabelledFace& a, const LabelledFace& b) {
    return a.captured_ms < b.captured_ms;
  });
  ClusteringScore score;
  for (const LabelledFace& face : faces) {
    SightingRecord s;
    s.id = face.id;
    s.camera = "eval";
    s.site = "eval";
    s.captured_ms = face.captured_ms;
    s.received_ms = face.captured_ms;
    s.decision = Decision::kUnknown;
    s.embedding = face.embedding;
    s.quality.score = face.quality;
    ASSIGN_OR_RETURN(const ClusterAssignment placed, clusters.Assign(s));
    score.merges += placed.merged.size();
  }

  // Where each face ended up, after every merge.
  std::map<int64_t, std::vector<const LabelledFace*>> members;
  std::map<std::string, std::map<int64_t, size_t>> cards;  // person -> cluster -> faces
  std::map<std::string, size_t> faces_of;
  for (const LabelledFace& face : faces) {
    ASSIGN_OR_RETURN(const std::optional<int64_t> cluster, clusters.ClusterOf(face.id));
    if (!cluster) return Status::Internal("face " + face.id + " was not clustered");
    members[*cluster].push_back(&face);
    ++cards[face.truth][*cluster];
    ++faces_of[face.truth];
  }
  score.faces = faces.size();
  score.people = faces_of.size();
  score.clusters = members.size();
  size_t card_total = 0, one_card = 0;
  for (const auto& [person, spread] : cards) {
    if (faces_of[person] < 2) continue;
    ++score.returning;
    card_total += spread.size();
    one_card += spread.size() == 1;
  }
  if (score.returning > 0) {
    score.cards_per_returning = double(card_total) / double(score.returning);
    score.one_card_share = double(one_card) / double(score.returning);
  }
  double precision = 0, recall = 0;
  for (const auto& [cluster, faces_in] : members) {
    std::map<std::string, size_t> same;
    for (const LabelledFace* f : faces_in) ++same[f->truth];
    score.mixed_clusters += same.size() > 1;
    for (const auto& [person, n] : same) {
      // Each of the n faces: n of the cluster's faces are them, n of theirs are here.
      precision += double(n) * double(n) / double(faces_in.size());
      recall += double(n) * double(n) / double(faces_of[person]);
    }
  }
  if (!faces.empty()) {
    score.bcubed_precision = precision / double(faces.size());
    score.bcubed_recall = recall / double(faces.size());
    const double sum = score.bcubed_precision + score.bcubed_recall;
    score.bcubed_f1 = sum > 0 ? 2 * score.bcubed_precision * score.bcubed_recall / sum : 0;
  }
  return score;
}

}  // namespace concierge
