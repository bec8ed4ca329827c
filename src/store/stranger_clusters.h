// Stranger clusters (tables stranger_clusters + cluster_sightings, migration
// 5): unknown sightings grouped by embedding, so one stranger is one "who is
// this?" question that is updated as they are seen again, and one tag trains
// on all of their faces.
//
// A sighting joins the open or ignored cluster of its site, seen within
// `window_ms` of it, whose centroid is most similar to its embedding, when
// that cosine is at least `threshold`; otherwise it starts a new cluster. Ignored clusters
// still absorb their stranger, so an ignored face is not asked about again.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/types.h"
#include "store/database.h"
#include "store/sighting_store.h"

namespace concierge {

enum class ClusterState { kOpen, kTagged, kIgnored };

// "open", "tagged" or "ignored".
const char* ToString(ClusterState state);
// The inverse of ToString; kInvalidArgument for anything else.
Result<ClusterState> ParseClusterState(const std::string& text);

struct StrangerCluster {
  int64_t id = 0;
  std::string site;
  Embedding centroid;  // unit length
  int sightings = 0;
  std::string best_sighting_id;  // highest quality score so far
  float best_quality = 0;
  int64_t first_ms = 0;  // captured time of the first and latest sighting
  int64_t last_ms = 0;
  ClusterState state = ClusterState::kOpen;
  std::optional<std::string> person_id;  // for kTagged
  std::string resolved_by;               // actor of the tag or ignore
  int64_t resolved_ms = 0;
};

struct ClusterMember {
  std::string sighting_id;
  int64_t captured_ms = 0;
};

struct ClusterAssignment {
  StrangerCluster cluster;  // as stored after the call
  bool created = false;     // the sighting started this cluster
  bool added = false;       // false: the sighting was already in it; nothing changed
};

struct ClusterPage {
  std::vector<StrangerCluster> items;  // latest activity first
  std::string next_cursor;             // empty when there is nothing more
};

// Thread-safe: each call is one database transaction.
class StrangerClusters {
 public:
  // Needs an open database (migration 5 applied) that outlives this, a
  // threshold in (-1, 1] and window_ms > 0.
  StrangerClusters(Database* db, float threshold, int64_t window_ms);

  // Needs a decided kUnknown sighting with a non-empty embedding (else
  // kInvalidArgument). Adds it to a cluster as described above, all or
  // nothing; a sighting already in a cluster changes nothing (added=false).
  Result<ClusterAssignment> Assign(const SightingRecord& sighting);

  // The cluster, or kNotFound.
  Result<StrangerCluster> Get(int64_t id);
  // Clusters in `state` (any when nullopt), latest activity first. Needs
  // 1 <= limit <= 500 and an empty cursor or an earlier next_cursor.
  Result<ClusterPage> List(std::optional<ClusterState> state, int limit,
                           const std::string& cursor = "");
  // The cluster's sightings, oldest first; kNotFound for an unknown cluster.
  Result<std::vector<ClusterMember>> Sightings(int64_t cluster_id);
  // Its sightings captured in [from_ms, to_ms].
  Result<int> CountSightings(int64_t cluster_id, int64_t from_ms, int64_t to_ms);
  // The cluster holding this sighting, or nullopt.
  Result<std::optional<int64_t>> ClusterOf(const std::string& sighting_id);

  // Moves an open cluster to kTagged (with person_id) or kIgnored, recording
  // who and when. Returns true when it changed; false when it was already in
  // that state (with that person). kFailedPrecondition when it was resolved
  // differently, kNotFound when absent.
  Result<bool> Resolve(int64_t id, ClusterState state, const std::optional<std::string>& person_id,
                       const std::string& actor);
  // Removes one sighting from whatever cluster holds it (its count and time
  // span follow; a cluster left empty is deleted). OK when absent.
  Status RemoveSighting(const std::string& sighting_id);
  // Deletes every cluster tagged as this person; returns their ids.
  Result<std::vector<int64_t>> DeleteForPerson(const std::string& person_id);

 private:
  Database* const db_;
  const float threshold_;
  const int64_t window_ms_;
};

}  // namespace concierge
