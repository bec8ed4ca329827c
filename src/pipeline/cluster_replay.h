// Replays a stream of labelled stranger faces through StrangerClusters and
// scores the grouping against the truth: how many "who is this?" cards each
// stranger got (ideally one) and how often two people shared a card (ideally
// never). Used by `concierge eval cluster`; the clustering is the real one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/types.h"
#include "store/stranger_clusters.h"

namespace concierge {

struct LabelledFace {
  std::string id;     // unique sighting id
  std::string truth;  // who it really is
  int64_t captured_ms = 0;
  Embedding embedding;  // the primary model's
  float quality = 0.5f;
};

struct ClusteringScore {
  size_t faces = 0;
  size_t people = 0;
  size_t returning = 0;  // people with more than one face
  size_t clusters = 0;
  // Over returning people: mean number of clusters their faces fell into,
  // and the share whose faces all fell into one.
  double cards_per_returning = 0;
  double one_card_share = 0;
  size_t mixed_clusters = 0;  // clusters holding faces of more than one person
  // BCubed over all faces: of the faces sharing a face's cluster, the share
  // that are the same person (precision), and of the person's faces, the
  // share in that cluster (recall); F1 of the two means.
  double bcubed_precision = 0;
  double bcubed_recall = 0;
  double bcubed_f1 = 0;
  size_t merges = 0;  // clusters absorbed as evidence grew
};

// Needs empty `clusters` (no cluster yet) and faces with unique ids and
// embeddings. Assigns them in capture order, as the notifier does, and scores
// the clusters that result.
Result<ClusteringScore> ReplayClustering(StrangerClusters& clusters,
                                         std::vector<LabelledFace> faces);

}  // namespace concierge
