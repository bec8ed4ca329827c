// Train: the actions people take on what Concierge saw. Tag teaches a
// stranger's faces as a person, Ignore deletes a stranger's pictures, Not me
// un-teaches one wrong match, Forget erases a person entirely. Every action is
// audited (who, what, when) and idempotent: repeating it changes nothing.
// Callers: the Slack interactivity endpoint, the HTTP API and the CLI.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "pipeline/chat_directory.h"
#include "pipeline/matcher.h"
#include "store/audit_log.h"
#include "store/face_collection.h"
#include "store/object_store.h"
#include "store/sighting_store.h"
#include "store/stranger_clusters.h"
#include "vision/face_engine.h"
#include "vision/image_io.h"

namespace concierge {


// Who a stranger is: an existing person, or a new one named by a Slack user id
// (external_id; the name comes from users.info) and/or a typed display name.
// An external_id that already belongs to a person picks that person.
struct PersonChoice {
  std::string person_id;     // existing person; wins over the fields below
  std::string display_name;  // new person ("Someone else...")
  std::string external_id;   // Slack user id, "U..."
};

// The actor of what Concierge does by itself (ResolveOpenStrangers).
inline constexpr char kConciergeActor[] = "concierge";

// Why Concierge tagged a stranger on its own: what `actor` did to `target`
// ("enroll" of "person:<id>", "tag" of "cluster:<n>"). Audited as the tag's
// detail "because": {"actor", "action", "target"}.
struct TagCause {
  std::string actor;
  std::string action;
  std::string target;
};

struct TagOutcome {
  std::string person_id;
  bool person_created = false;
  int faces_indexed = 0;  // sightings that passed the quality gate
  int faces_skipped = 0;  // below the gate or without an embedding: kept as sightings only
  bool already_done = false;  // the cluster was tagged as this person before; nothing changed
  // Other open strangers that now match the person and were tagged as them.
  std::vector<int64_t> also_resolved;
};

struct MergeOutcome {
  int64_t faces = 0;      // training faces moved to the survivor
  int64_t sightings = 0;  // sightings relabelled as the survivor
  int64_t clusters = 0;   // clusters tagged as the duplicate, removed
};

struct ForgetOutcome {
  int64_t faces = 0;      // training faces removed
  int64_t sightings = 0;  // sightings (and their visits) removed
  int64_t images = 0;     // objects deleted from the object store
};

// Told about training results, e.g. to update the Slack message. Called
// after the change is durable; must not call back into the Trainer.
class TrainingObserver {
 public:
  virtual ~TrainingObserver() = default;
  // A stranger cluster was tagged or ignored by `actor`; `cluster` is as stored now.
  virtual void ClusterResolved(const StrangerCluster& cluster, const std::string& actor) = 0;
  // `actor` said the known sighting (as it was before) is not `person_id`.
  virtual void SightingDisowned(const SightingRecord& sighting, const std::string& person_id,
                                const std::string& actor) = 0;
  // The person was erased; `clusters` are the ids of the clusters tagged as them.
  virtual void PersonForgotten(const std::string& person_id,
                               const std::vector<int64_t>& clusters) = 0;
  // The open clusters `from` (now deleted) were merged into `into` (as stored
  // now) by `actor`, or by kConciergeActor as evidence grew.
  virtual void ClustersMerged(const StrangerCluster& into, const std::vector<int64_t>& from,
                              const std::string& actor) = 0;
  // `actor` split `created` off `from`; both as stored now.
  virtual void ClusterSplit(const StrangerCluster& from, const StrangerCluster& created,
                            const std::string& actor) = 0;
};

// What the Trainer works on; all must outlive it. `chat` may be null (new
// people are then named by their external id, and only the CLI and API may
// say "not me"); `observer` may be null.
struct TrainerParts {
  FaceEngine* engine = nullptr;  // embeds tagged faces with every model
  SightingStore* sightings = nullptr;
  ObjectStore* objects = nullptr;
  FaceCollection* faces = nullptr;
  StrangerClusters* clusters = nullptr;
  AuditLog* audit = nullptr;
  ChatDirectory* chat = nullptr;
  TrainingObserver* observer = nullptr;
  // Decides whether open strangers now match a person (ResolveOpenStrangers);
  // null: no re-check.
  Matcher* matcher = nullptr;
};

// Thread-safe: actions are serialised.
class Trainer {
 public:
  // Needs every part but slack and observer. quality is the gate a face must
  // pass to be indexed; limits bound the pictures it decodes.
  Trainer(const QualityGate& quality, const ImageLimits& limits, TrainerParts parts);

  // Later results go to `observer` (may be null). Call before actions start.
  void SetObserver(TrainingObserver* observer);
  // Open strangers are re-checked with `matcher` (may be null: never). It
  // must outlive this.
  void SetMatcher(Matcher* matcher);

  // Needs an open (or already tagged as the same person) cluster and a choice
  // naming someone. Indexes every cluster face that passes the quality gate
  // under the person (created if needed), moves every cluster picture to
  // known/<person>/..., marks the sightings known and the cluster tagged, and
  // audits it as `actor`. kFailedPrecondition if the cluster was ignored or
  // tagged as someone else; kNotFound for an unknown cluster or person id.
  // Then re-checks the other open strangers (ResolveOpenStrangers).
  Result<TagOutcome> TagCluster(int64_t cluster_id, const PersonChoice& who,
                                const std::string& actor);
  // After `person_id` learned faces (enrolment, a tag): every open stranger
  // whose best face the matcher now names as them is tagged as them, as the
  // actor "concierge" (audited with `because`: who enrolled or tagged them), so
  // its question is resolved and its sightings relabelled. Returns the
  // clusters tagged; none without a matcher.
  Result<std::vector<int64_t>> ResolveOpenStrangers(const std::string& person_id,
                                                    const TagCause& because);
  // Needs open clusters `into` and `from` (others, at least one): each of
  // `from` is merged into `into` (StrangerClusters::Merge), audited as
  // "cluster.merge", and the observer told. All are checked before any is
  // merged; a cluster merged before is gone (kNotFound).
  Result<StrangerCluster> MergeClusters(int64_t into, const std::vector<int64_t>& from,
                                        const std::string& actor);
  // Needs an open cluster and some, not all, of its sightings: they become a
  // new open cluster (StrangerClusters::Split), audited as "cluster.split";
  // the observer is told, so the new stranger is asked about. Returns it.
  Result<StrangerCluster> SplitCluster(int64_t cluster_id,
                                       const std::vector<std::string>& sighting_ids,
                                       const std::string& actor);
  // Needs an open or ignored cluster. Deletes the pictures of all its
  // sightings, marks the cluster ignored and audits it. Repeating it is OK.
  Status IgnoreCluster(int64_t cluster_id, const std::string& actor);
  // Needs a sighting. If it is a known sighting, removes the face indexed from
  // it (if any), records its embedding as a negative for that person, moves
  // it (and its picture) to unknown and audits it. Already unknown: OK,
  // nothing changes.
  Status NotMe(const std::string& sighting_id, const std::string& actor);
  // NotMe pressed in the chat by `chat_user`: allowed to the person the
  // sighting names (their external id) and to chat admins (ChatDirectory),
  // else kPermissionDenied and nothing changes.
  Status NotMeInChat(const std::string& sighting_id, const std::string& chat_user,
                     const std::string& actor);
  // Needs an existing person. Removes their faces, negatives, sightings,
  // visits, clusters, notifications and every picture of them; audits it
  // with the id and counts only (not the display name). kNotFound if there is
  // no such person. Earlier audit entries about them are kept (the record).
  // Slack messages already posted are not deleted.
  Result<ForgetOutcome> ForgetPerson(const std::string& person_id, const std::string& actor);
  // Needs two different existing people. `from` was a duplicate of `into`:
  // their sightings are relabelled as `into` (pictures moved to
  // known/<into>/..., visits renamed), their faces and "not me" negatives
  // become `into`'s in one collection transaction that also removes `from`
  // and gives `into` their external id if it had none (face pictures move to
  // faces/<into>/...), clusters tagged as them are removed (as forgetting does),
  // and it is audited as "person.merge". After a crash at any point every row
  // names a picture that exists; before the collection step, running it again
  // finishes the merge (after it, the duplicate is gone and only the clusters'
  // clean-up and the audit entry can be missing).
  Result<MergeOutcome> MergePeople(const std::string& into, const std::string& from,
                                   const std::string& actor);

 private:
  // TagCluster and ResolveOpenStrangers with mu_ held.
  Result<TagOutcome> TagClusterLocked(int64_t cluster_id, const PersonChoice& who,
                                      const std::string& actor,
                                      const std::optional<TagCause>& because);
  Result<std::vector<int64_t>> ResolveOpenStrangersLocked(const std::string& person_id,
                                                          const TagCause& because);
  // The person a choice names, created when it is new.
  Result<std::string> ResolvePerson(const PersonChoice& who, bool* created);
  // Whether the choice names `person_id` (without creating anyone).
  bool Names(const PersonChoice& who, const std::string& person_id) const;

  const QualityGate quality_;
  const ImageLimits limits_;
  TrainerParts parts_;
  std::mutex mu_;
};

}  // namespace concierge
