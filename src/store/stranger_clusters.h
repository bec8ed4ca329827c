// Stranger clusters (tables stranger_clusters + cluster_sightings): unknown
// sightings grouped by embedding, so one stranger is one "who is
// this?" question that is updated as they are seen again, and one tag trains
// on all of their faces.
//
// A sighting joins the open or ignored cluster of its site, seen within
// `window_ms` of it, whose centroid is most similar to its embedding, when
// that cosine is at least `threshold`; otherwise it starts a new cluster. Ignored clusters
// still absorb their stranger, so an ignored face is not asked about again.
// As evidence grows the clusters merge: when an open cluster's new centroid is
// at least `threshold` similar to another open cluster of the candidates, that
// one is absorbed (one stranger, one question). People can merge and split
// open clusters by hand.
//
// One interface, a SQLite and a PostgreSQL backend; the clustering itself
// (which cluster a face joins, the new centroid, the best picture, resolving)
// is decided once, here, and only stored by the backends. On PostgreSQL,
// assignments of one site are serialised across servers, so two servers
// seeing one stranger at once still make one cluster.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
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
  std::vector<int64_t> merged;  // open clusters absorbed into `cluster` (now deleted)
};

struct ClusterPage {
  std::vector<StrangerCluster> items;  // latest activity first
  std::string next_cursor;             // empty when there is nothing more
};

// Thread-safe: each call is one database transaction.
class StrangerClusters {
 public:
  // A cluster's centroid and best picture, as the backends write them.
  struct Summary {
    Embedding centroid;  // unit length
    std::string best_sighting_id;
    float best_quality = 0;
  };

  virtual ~StrangerClusters() = default;

  // Needs a decided kUnknown sighting with a non-empty embedding (else
  // kInvalidArgument). Adds it to a cluster as described above, all or
  // nothing; a sighting already in a cluster changes nothing (added=false).
  virtual Result<ClusterAssignment> Assign(const SightingRecord& sighting) = 0;

  // The cluster, or kNotFound.
  virtual Result<StrangerCluster> Get(int64_t id) = 0;
  // Clusters in `state` (any when nullopt), latest activity first. Needs
  // 1 <= limit <= 500 and an empty cursor or an earlier next_cursor.
  virtual Result<ClusterPage> List(std::optional<ClusterState> state, int limit,
                                   const std::string& cursor = "") = 0;
  // The cluster's sightings, oldest first; kNotFound for an unknown cluster.
  virtual Result<std::vector<ClusterMember>> Sightings(int64_t cluster_id) = 0;
  // Its sightings captured in [from_ms, to_ms].
  virtual Result<int> CountSightings(int64_t cluster_id, int64_t from_ms, int64_t to_ms) = 0;
  // The cluster holding this sighting, or nullopt.
  virtual Result<std::optional<int64_t>> ClusterOf(const std::string& sighting_id) = 0;

  // Moves an open cluster to kTagged (with person_id) or kIgnored, recording
  // who and when. Returns true when it changed; false when it was already in
  // that state (with that person). kFailedPrecondition when it was resolved
  // differently, kNotFound when absent.
  virtual Result<bool> Resolve(int64_t id, ClusterState state,
                               const std::optional<std::string>& person_id,
                               const std::string& actor) = 0;
  // Needs two different open clusters. Moves every sighting of `from` into
  // `into` (centroid: the mean of both, weighted by their sightings; best
  // picture: the better one), deletes `from` and returns `into` as stored.
  // kNotFound for an unknown cluster, kFailedPrecondition unless both are open.
  virtual Result<StrangerCluster> Merge(int64_t into, int64_t from) = 0;
  // Needs an open cluster, `members`: the records of exactly its sightings
  // (else kFailedPrecondition: it changed meanwhile), and `moving`: a
  // non-empty proper subset of their ids. Moves those into a new open
  // cluster of the same site; each cluster's centroid and best picture are
  // recomputed from its members. Returns the new cluster.
  virtual Result<StrangerCluster> Split(int64_t id, const std::vector<SightingRecord>& members,
                                        const std::vector<std::string>& moving) = 0;
  // Removes one sighting from whatever cluster holds it (its count and time
  // span follow; a cluster left empty is deleted). OK when absent.
  virtual Status RemoveSighting(const std::string& sighting_id) = 0;
  // Deletes every cluster tagged as this person; returns their ids.
  virtual Result<std::vector<int64_t>> DeleteForPerson(const std::string& person_id) = 0;
  // Deletes clusters last seen before `before_ms` with their memberships
  // (retention); returns how many clusters went.
  virtual Result<int64_t> DeleteSeenBefore(int64_t before_ms) = 0;

 protected:
  // Needs a threshold in (-1, 1] and window_ms > 0. Without `merge`, clusters
  // never absorb each other by themselves (to measure what merging gives).
  StrangerClusters(float threshold, int64_t window_ms, bool merge = true)
      : threshold_(threshold), window_ms_(window_ms), merge_(merge) {}

  // What Assign writes, decided from the probe and the candidates (clusters of
  // its site, open or ignored, active within the window of its capture).
  struct Placement {
    std::optional<int64_t> join;  // the cluster it joins; nullopt: a new cluster
    Summary summary;              // the joined cluster's new summary, or the new one's
    std::vector<int64_t> absorb;  // open candidates that now merge into `join`
  };
  // kInvalidArgument unless the sighting can be clustered; else its unit embedding.
  static Result<Embedding> Probe(const SightingRecord& sighting);
  Placement Place(const SightingRecord& sighting, const Embedding& probe,
                  const std::vector<StrangerCluster>& candidates) const;
  // Merge's summary of two clusters; kFailedPrecondition unless both are open
  // and different.
  static Result<Summary> Combine(const StrangerCluster& into, const StrangerCluster& from);
  // Split's check of the request against the stored member ids, and the
  // summaries of the staying and the moving members.
  static Result<std::pair<Summary, Summary>> Divide(const StrangerCluster& cluster,
                                                    const std::vector<std::string>& stored_ids,
                                                    const std::vector<SightingRecord>& members,
                                                    const std::vector<std::string>& moving);
  // The time range of candidates for a capture time: [from, to].
  int64_t WindowFrom(int64_t captured_ms) const { return captured_ms - window_ms_; }
  int64_t WindowTo(int64_t captured_ms) const { return captured_ms + window_ms_; }

  // List's cursor "<last_ms>.<id>" as {last_ms, id}; {max, max} when empty.
  struct Cursor {
    int64_t last_ms = INT64_MAX;
    int64_t id = INT64_MAX;
  };
  static Result<Cursor> ParseCursor(const std::string& cursor);
  static Status CheckLimit(int limit);
  // Trims a page read with limit + 1 rows and sets its next cursor.
  static void FinishPage(int limit, ClusterPage* page);

  // Resolve's decision for the cluster as stored: Ok(true) to write the
  // change, Ok(false) when nothing changes, else the error to return.
  static Status CheckResolution(ClusterState state, const std::optional<std::string>& person_id);
  static Result<bool> NeedsResolving(const StrangerCluster& current, ClusterState state,
                                     const std::optional<std::string>& person_id);

 private:
  const float threshold_;
  const int64_t window_ms_;
  const bool merge_;
};

// The SQLite backend; needs an open database (migrations applied) that
// outlives it, a threshold in (-1, 1] and window_ms > 0. `merge`: as the
// constructor's (false only to measure clustering without it).
std::unique_ptr<StrangerClusters> NewSqliteStrangerClusters(Database* db, float threshold,
                                                            int64_t window_ms, bool merge = true);
// The PostgreSQL backend: connects and applies its migrations (component
// "clusters"). Errors as OpenPgSightingStore.
Result<std::unique_ptr<StrangerClusters>> OpenPgStrangerClusters(const std::string& url,
                                                                 float threshold,
                                                                 int64_t window_ms);
// The backend database.kind names; `sqlite` is used (and needed) for "sqlite".
Result<std::unique_ptr<StrangerClusters>> OpenStrangerClusters(const DatabaseConfig& config,
                                                               Database* sqlite, float threshold,
                                                               int64_t window_ms);

}  // namespace concierge
