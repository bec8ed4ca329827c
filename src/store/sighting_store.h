// The record of who was seen: sightings (one best crop of one face track) and
// visits (repeated sightings of one person at one site). One interface, several
// backends (SQLite now, PostgreSQL later); callers never see which one they use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/types.h"

namespace concierge {

// What recognition concluded about a sighting.
enum class Decision {
  kPending,   // stored, not recognised yet
  kKnown,     // matched an enrolled person
  kUnknown,   // a face, but nobody we know
  kRejected,  // the server found no usable face in the crop
};

// "pending", "known", "unknown" or "rejected".
const char* ToString(Decision decision);
// The inverse of ToString; kInvalidArgument for anything else.
Result<Decision> ParseDecision(const std::string& text);

struct SightingRecord {
  std::string id;
  std::string camera;
  std::string site;
  std::string track;
  int seq = 0;
  int64_t captured_ms = 0;  // at the edge
  CaptureClock capture_clock = CaptureClock::kUnstated;  // what captured_ms was read from
  int64_t received_ms = 0;  // by the server
  Box box;
  float detector_score = 0;
  FaceQuality quality;
  float live_score = -1;  // -1 when not measured
  std::vector<Box> faces;  // the face in each view of the picture, best first; empty: not sent
  float human_score = -1;  // the edge's human-face check; -1 when not sent
  std::string image_key;  // incoming/… while pending, then known/… or unknown/…
  std::optional<std::string> person_id;  // only for kKnown
  std::optional<float> similarity;       // best match's cosine, when a face was embedded
  Decision decision = Decision::kPending;
  std::optional<int64_t> visit_id;
  int64_t decided_ms = 0;  // 0 while pending
  Embedding embedding;     // the server's own embedding; empty while pending or rejected
  // Every embedder's vector of the face, kept only in embeddings-only mode
  // (RetentionConfig) for unknown sightings: a tag trains from it, as there
  // is no picture to embed again. Empty otherwise.
  Descriptor descriptor;
};

struct VisitRecord {
  int64_t id = 0;
  std::string site;
  std::optional<std::string> person_id;  // empty for a stranger
  int64_t started_ms = 0;                // first sighting's captured time
  int64_t last_ms = 0;                   // latest sighting's captured time
  int sightings = 0;
};

// A position in a newest-first sighting listing, for keyset paging.
struct SightingCursor {
  int64_t captured_ms = 0;
  std::string id;
};

struct SightingQuery {
  int64_t since_ms = 0;   // captured at or after
  int limit = 100;        // newest first; <= 0 means no limit
  std::string camera;     // empty: any
  std::string person_id;  // empty: any
  bool unknown_only = false;
  int64_t until_ms = 0;                 // captured before; <= 0: no bound
  std::optional<SightingCursor> after;  // only sightings listed after this one
  std::optional<int64_t> visit_id;      // only sightings of this visit
};

// A position in a latest-first visit listing, for keyset paging.
struct VisitCursor {
  int64_t last_ms = 0;
  int64_t id = 0;
};

struct VisitQuery {
  int64_t since_ms = 0;   // active at or after (last_ms)
  int64_t until_ms = 0;   // started before; <= 0: no bound
  int limit = 100;        // latest activity first; <= 0 means no limit
  std::string person_id;  // empty: any
  std::string camera;     // empty: any; else visits with a sighting at this camera
  bool unknown_only = false;         // only strangers' visits
  std::optional<VisitCursor> after;  // only visits listed after this one
};

// What recognition found for a pending sighting.
struct SightingOutcome {
  std::string id;
  Decision decision = Decision::kUnknown;  // not kPending
  std::optional<std::string> person_id;
  std::optional<float> similarity;
  float live_score = -1;
  std::string image_key;  // where the picture now lives; empty: it was not kept
  Embedding embedding;
  Descriptor descriptor;  // see SightingRecord::descriptor
};

// What ErasePerson removed.
struct PersonErasure {
  int64_t sightings = 0;
  int64_t visits = 0;
  std::vector<std::string> image_keys;  // the removed sightings' pictures, to delete
};

// Which visit a decided sighting joins.
struct VisitChoice {
  enum class Kind { kNone, kJoin, kStart } kind = Kind::kNone;
  int64_t visit_id = 0;  // for kJoin
};

struct DecisionResult {
  bool applied = false;              // false: the sighting was already decided, nothing changed
  SightingRecord sighting;           // as stored after the call
  std::optional<VisitRecord> visit;  // the visit it belongs to, if any
  bool visit_started = false;        // the call created that visit
};

// What the edge said about the picture, as stored (the views_json column of
// both backends): {"faces": [[x,y,w,h], ...], "human_score": s,
// "capture_clock": "camera"}, and its inverse, which reads a missing or
// malformed document as "nothing sent".
std::string ViewsJson(const SightingRecord& sighting);
void ParseViewsJson(const std::string& text, SightingRecord* sighting);

// A descriptor as stored (the descriptor_json column of both backends):
// [{"model": m, "vector": [...]}, ...] with components rounded to 1e-7, and
// its inverse; kInternal naming the sighting for a malformed document.
std::string DescriptorJson(const Descriptor& descriptor);
Result<Descriptor> ParseDescriptorJson(const std::string& text, const std::string& sighting_id);

// The rule of SightingStore::Insert: OK for a pending record with an id, else
// kInvalidArgument.
Status CheckNewSighting(const SightingRecord& sighting);

// The rule of SightingStore::RecordDecision: OK for an outcome with an id and
// a decision, with a person exactly when it is known; else kInvalidArgument.
Status CheckOutcome(const SightingOutcome& outcome);

// The rules of SightingStore::Relabel: OK when `current` may be relabelled
// to `decision` with `person_id`; else kFailedPrecondition or kInvalidArgument.
Status CheckRelabel(const SightingRecord& current, Decision decision,
                    const std::optional<std::string>& person_id);

// What both backends run, in Relabel's transaction, on the visit ($1) of the
// relabelled sighting: the visit is the one person's its known sightings name,
// else nobody's (a stranger's visit). So a tag names a stranger's past visits
// and a "Not me" on a visit's only known face unnames it.
inline constexpr char kRebuildVisitPerson[] =
    "UPDATE visits SET person_id = (SELECT CASE WHEN COUNT(DISTINCT person_id) = 1 THEN "
    "MIN(person_id) END FROM sightings WHERE visit_id = $1 AND decision = 'known') WHERE id = $1";

// All methods are safe from many threads. Errors: kInvalidArgument (bad
// record), kNotFound, kIoError (storage trouble, naming the cause).
class SightingStore {
 public:
  virtual ~SightingStore() = default;

  // Needs a pending record with a non-empty id. Stores it unless a sighting with
  // this id exists; returns true when it was new. Never changes an existing row,
  // so a redelivered message is harmless.
  virtual Result<bool> Insert(const SightingRecord& sighting) = 0;
  // Insert for many records in one transaction (one commit), so concurrent
  // deliveries share a commit. Returns, in input order, whether each was new;
  // on error nothing was stored.
  virtual Result<std::vector<bool>> InsertBatch(const std::vector<SightingRecord>& sightings) = 0;
  // The sighting, or kNotFound.
  virtual Result<SightingRecord> Get(const std::string& id) = 0;
  // Sightings matching `query`, newest captured first (ties by id).
  virtual Result<std::vector<SightingRecord>> List(const SightingQuery& query) = 0;
  // Pending sightings, oldest captured first: the work left by a crash.
  virtual Result<std::vector<SightingRecord>> ListPending() = 0;
  // Up to `limit` decided kUnknown sightings of `site` captured in
  // [from_ms, to_ms] that carry an embedding and a visit, latest first; for
  // grouping strangers into visits.
  virtual Result<std::vector<SightingRecord>> RecentUnknown(const std::string& site,
                                                            int64_t from_ms, int64_t to_ms,
                                                            int limit) = 0;
  // Visits of `person_id` at `site` whose [started_ms, last_ms] comes within
  // [from_ms, to_ms], latest first.
  virtual Result<std::vector<VisitRecord>> PersonVisits(const std::string& site,
                                                        const std::string& person_id,
                                                        int64_t from_ms, int64_t to_ms) = 0;

  // Needs a decided outcome for an existing sighting (else kInvalidArgument or
  // kNotFound) and, for kJoin, an existing visit. All or nothing: if the
  // sighting is still pending, records the outcome and joins or starts the
  // visit (which then spans the sighting's capture time and counts it).
  // If it was decided already, changes nothing and returns it as stored.
  virtual Result<DecisionResult> RecordDecision(const SightingOutcome& outcome,
                                                const VisitChoice& visit) = 0;

  // Visits, latest activity first, that were active at or after `since_ms`;
  // `limit` <= 0 means no limit.
  virtual Result<std::vector<VisitRecord>> ListVisits(int64_t since_ms, int limit) = 0;
  // Visits matching `query`, latest activity first (ties by id, highest first).
  virtual Result<std::vector<VisitRecord>> ListVisits(const VisitQuery& query) = 0;
  // The visit, or kNotFound.
  virtual Result<VisitRecord> GetVisit(int64_t id) = 0;

  // For retention: up to `limit` (> 0) sightings captured before `before_ms`,
  // oldest first; only those with one of `decisions` (any when empty) and,
  // with `with_image_only`, a non-empty image key.
  virtual Result<std::vector<SightingRecord>> ListCapturedBefore(
      int64_t before_ms, const std::vector<Decision>& decisions, bool with_image_only,
      int limit) = 0;
  // Empties the sighting's image key if it still is `image_key` (its picture
  // is gone); true when it changed. OK and false for a missing sighting.
  virtual Result<bool> ClearImageKey(const std::string& id, const std::string& image_key) = 0;
  // Deletes these sightings (missing ids are skipped) in one transaction; returns how many.
  virtual Result<int64_t> DeleteSightings(const std::vector<std::string>& ids) = 0;
  // Deletes visits whose last activity is before `before_ms` and that no
  // sighting belongs to any more; returns how many.
  virtual Result<int64_t> DeleteVisitsBefore(int64_t before_ms) = 0;

  // For training. Needs a sighting decided kKnown or kUnknown (else
  // kFailedPrecondition; kNotFound when absent) and a person exactly when the
  // new decision is kKnown (else kInvalidArgument). Sets its decision, person
  // and image key (empty: its picture was deleted). It stays in its visit,
  // which is renamed after its known sightings (kRebuildVisitPerson).
  virtual Status Relabel(const std::string& id, Decision decision,
                         const std::optional<std::string>& person_id,
                         const std::string& image_key) = 0;
  // For "forget": deletes every sighting and visit of the person, all or
  // nothing. Other sightings in those visits stay, without a visit.
  virtual Result<PersonErasure> ErasePerson(const std::string& person_id) = 0;
};

}  // namespace concierge
