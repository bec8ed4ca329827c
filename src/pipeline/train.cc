#include "pipeline/train.h"

#include <set>

#include <spdlog/spdlog.h>

#include "notify/slack_client.h"
#include "pipeline/enrol.h"
#include "pipeline/gallery.h"
#include "pipeline/recognise.h"
#include "vision/face_quality.h"

namespace concierge {

namespace {

// A person id from a display name: lower-case ASCII letters and digits with
// '-' between words; "person" when nothing is left.
bool IsNotFound(const Status& s) { return s.code() == Status::Code::kNotFound; }

// Moves a picture, tolerating a move that already happened (a retried
// action). Returns the key the picture is at now, or "" when it is gone.
Result<std::string> MovePicture(ObjectStore* objects, const std::string& from,
                                const std::string& to) {
  if (from.empty()) return std::string();
  if (from == to) return to;
  Status moved = objects->Move(from, to);
  if (moved.ok()) return to;
  if (!IsNotFound(moved)) return moved;
  ASSIGN_OR_RETURN(const bool there, objects->Exists(to));
  return there ? to : std::string();
}

}  // namespace

Trainer::Trainer(const QualityGate& quality, const ImageLimits& limits, TrainerParts parts)
    : quality_(quality), limits_(limits), parts_(parts) {}

void Trainer::SetObserver(TrainingObserver* observer) {
  std::lock_guard<std::mutex> lock(mu_);
  parts_.observer = observer;
}

bool Trainer::Names(const PersonChoice& who, const std::string& person_id) const {
  if (!who.person_id.empty()) return who.person_id == person_id;
  if (!who.external_id.empty()) {
    Result<Person> p = parts_.faces->FindByExternalId(who.external_id);
    return p.ok() && p->id == person_id;
  }
  return false;
}

Result<std::string> Trainer::ResolvePerson(const PersonChoice& who, bool* created) {
  *created = false;
  if (!who.person_id.empty()) {
    ASSIGN_OR_RETURN(const Person p, parts_.faces->GetPerson(who.person_id));
    return p.id;
  }
  if (who.external_id.empty() && who.display_name.empty())
    return Status::InvalidArgument("choose a person: an id, a Slack user or a name");
  if (!who.external_id.empty()) {
    Result<Person> p = parts_.faces->FindByExternalId(who.external_id);
    if (p.ok()) return p->id;
    if (!IsNotFound(p.status())) return p.status();
  }
  std::string name = who.display_name;
  if (name.empty() && parts_.slack) {
    Result<SlackUser> user = parts_.slack->UsersInfo(who.external_id);
    if (!user.ok()) return user.status();
    name = user->PreferredName();
  }
  if (name.empty()) name = who.external_id;
  Result<std::string> id = AddPersonNamed(*parts_.faces, name, who.external_id);
  if (id.ok()) {
    *created = true;
    return *id;
  }
  // The external id may have been taken meanwhile: then that is the person.
  if (id.status().code() == Status::Code::kAlreadyExists && !who.external_id.empty()) {
    Result<Person> owner = parts_.faces->FindByExternalId(who.external_id);
    if (owner.ok()) return owner->id;
  }
  return id.status();
}

Result<TagOutcome> Trainer::TagCluster(int64_t cluster_id, const PersonChoice& who,
                                       const std::string& actor) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(const StrangerCluster cluster, parts_.clusters->Get(cluster_id));
  TagOutcome out;
  if (cluster.state == ClusterState::kIgnored)
    return Status::FailedPrecondition("stranger " + std::to_string(cluster_id) +
                                      " was ignored; its pictures are gone");
  if (cluster.state == ClusterState::kTagged) {
    if (!Names(who, cluster.person_id.value_or("")))
      return Status::FailedPrecondition("stranger " + std::to_string(cluster_id) +
                                        " is already tagged as someone else");
    out.person_id = *cluster.person_id;
    out.already_done = true;
    return out;
  }
  ASSIGN_OR_RETURN(out.person_id, ResolvePerson(who, &out.person_created));
  // Faces indexed by an earlier, interrupted run of this tag, by sighting.
  std::set<std::string> indexed;
  ASSIGN_OR_RETURN(const auto existing, parts_.faces->ListFaces(out.person_id));
  for (const auto& f : existing)
    if (!f.sighting_id.empty()) indexed.insert(f.sighting_id);

  ASSIGN_OR_RETURN(const auto members, parts_.clusters->Sightings(cluster_id));
  for (const ClusterMember& m : members) {
    Result<SightingRecord> found = parts_.sightings->Get(m.sighting_id);
    if (IsNotFound(found.status())) continue;
    RETURN_IF_ERROR(found.status());
    const SightingRecord& s = *found;
    if (s.decision != Decision::kUnknown) continue;  // relabelled by an earlier run
    ASSIGN_OR_RETURN(const std::string key,
                     MovePicture(parts_.objects, s.image_key,
                                 DecidedImageKey(s, Decision::kKnown, out.person_id)));
    bool passes = !key.empty() && QualityRejection(s.quality, quality_).empty();
    if (passes && !indexed.count(s.id)) {
      ASSIGN_OR_RETURN(const std::string jpeg, parts_.objects->Get(key));
      Result<FaceView> view = DescribeSightingFace(*parts_.engine, jpeg, s.faces, limits_);
      passes = view.ok();
      if (view.status().code() != Status::Code::kNoFace) RETURN_IF_ERROR(view.status());
      if (passes)
        RETURN_IF_ERROR(AddGalleryFace(*parts_.engine, *parts_.objects, *parts_.faces,
                                       out.person_id, view->image, view->face,
                                       FaceOrigin::kTagged, s.id)
                            .status());
    }
    ++(passes ? out.faces_indexed : out.faces_skipped);
    RETURN_IF_ERROR(parts_.sightings->Relabel(s.id, Decision::kKnown, out.person_id, key));
  }
  ASSIGN_OR_RETURN(const bool changed, parts_.clusters->Resolve(cluster_id, ClusterState::kTagged,
                                                                out.person_id, actor));
  RETURN_IF_ERROR(parts_.audit->Record(actor, "tag", "cluster:" + std::to_string(cluster_id),
                                       {{"person_id", out.person_id},
                                        {"person_created", out.person_created},
                                        {"faces_indexed", out.faces_indexed},
                                        {"faces_skipped", out.faces_skipped}}));
  spdlog::info("train: tag cluster={} person={} indexed={} skipped={} actor={}", cluster_id,
               out.person_id, out.faces_indexed, out.faces_skipped, actor);
  if (changed && parts_.observer) {
    ASSIGN_OR_RETURN(const StrangerCluster tagged, parts_.clusters->Get(cluster_id));
    parts_.observer->ClusterResolved(tagged, actor);
  }
  return out;
}

Status Trainer::IgnoreCluster(int64_t cluster_id, const std::string& actor) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(const StrangerCluster cluster, parts_.clusters->Get(cluster_id));
  if (cluster.state == ClusterState::kTagged)
    return Status::FailedPrecondition("stranger " + std::to_string(cluster_id) +
                                      " is tagged; forget the person instead");
  ASSIGN_OR_RETURN(const auto members, parts_.clusters->Sightings(cluster_id));
  int deleted = 0;
  for (const ClusterMember& m : members) {
    Result<SightingRecord> s = parts_.sightings->Get(m.sighting_id);
    if (IsNotFound(s.status())) continue;
    RETURN_IF_ERROR(s.status());
    if (s->decision != Decision::kUnknown || s->image_key.empty()) continue;
    RETURN_IF_ERROR(parts_.objects->Delete(s->image_key));
    RETURN_IF_ERROR(parts_.sightings->Relabel(s->id, Decision::kUnknown, std::nullopt, ""));
    ++deleted;
  }
  ASSIGN_OR_RETURN(const bool changed, parts_.clusters->Resolve(cluster_id, ClusterState::kIgnored,
                                                                std::nullopt, actor));
  if (!changed && deleted == 0) return Status::Ok();
  RETURN_IF_ERROR(parts_.audit->Record(actor, "ignore", "cluster:" + std::to_string(cluster_id),
                                       {{"pictures_deleted", deleted}}));
  spdlog::info("train: ignore cluster={} pictures_deleted={} actor={}", cluster_id, deleted,
               actor);
  if (changed && parts_.observer) {
    ASSIGN_OR_RETURN(const StrangerCluster ignored, parts_.clusters->Get(cluster_id));
    parts_.observer->ClusterResolved(ignored, actor);
  }
  return Status::Ok();
}

Status Trainer::NotMe(const std::string& sighting_id, const std::string& actor) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(const SightingRecord s, parts_.sightings->Get(sighting_id));
  if (s.decision != Decision::kKnown || !s.person_id) return Status::Ok();
  const std::string person_id = *s.person_id;
  int faces_removed = 0;
  Result<std::vector<FaceRecord>> faces = parts_.faces->ListFaces(person_id);
  if (faces.ok()) {
    // Faces trained from this sighting (tagged or learned; older tags shared its picture).
    for (const FaceRecord& f : *faces) {
      if (f.sighting_id != s.id && (s.image_key.empty() || f.image_key != s.image_key)) continue;
      RETURN_IF_ERROR(parts_.faces->DeleteFace(f.id));
      if (f.image_key != s.image_key && !f.image_key.empty())
        RETURN_IF_ERROR(parts_.objects->Delete(f.image_key));
      ++faces_removed;
    }
    Result<std::string> jpeg = parts_.objects->Get(s.image_key);
    if (jpeg.ok()) {
      Result<FaceView> view = DescribeSightingFace(*parts_.engine, *jpeg, s.faces, limits_);
      if (view.ok())
        RETURN_IF_ERROR(parts_.faces->AddNegative(person_id, view->face.embeddings, s.id));
      else if (view.status().code() != Status::Code::kNoFace)
        return view.status();
    } else if (!IsNotFound(jpeg.status())) {
      return jpeg.status();
    }
  } else if (!IsNotFound(faces.status())) {
    return faces.status();
  }
  ASSIGN_OR_RETURN(const std::string key,
                   MovePicture(parts_.objects, s.image_key,
                               DecidedImageKey(s, Decision::kUnknown, std::nullopt)));
  RETURN_IF_ERROR(parts_.sightings->Relabel(s.id, Decision::kUnknown, std::nullopt, key));
  RETURN_IF_ERROR(parts_.audit->Record(actor, "not_me", "sighting:" + s.id,
                                       {{"person_id", person_id},
                                        {"faces_removed", faces_removed}}));
  spdlog::info("train: not-me sighting={} person={} faces_removed={} actor={}", s.id, person_id,
               faces_removed, actor);
  if (parts_.observer) parts_.observer->SightingDisowned(s, person_id, actor);
  return Status::Ok();
}

Result<ForgetOutcome> Trainer::ForgetPerson(const std::string& person_id,
                                            const std::string& actor) {
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(parts_.faces->GetPerson(person_id).status());
  ForgetOutcome out;
  std::set<std::string> pictures;
  ASSIGN_OR_RETURN(const auto faces, parts_.faces->ListFaces(person_id));
  out.faces = static_cast<int64_t>(faces.size());
  ASSIGN_OR_RETURN(const PersonErasure erased, parts_.sightings->ErasePerson(person_id));
  out.sightings = erased.sightings;
  pictures.insert(erased.image_keys.begin(), erased.image_keys.end());
  ASSIGN_OR_RETURN(const auto face_keys, parts_.faces->ForgetPerson(person_id));
  pictures.insert(face_keys.begin(), face_keys.end());
  // Stragglers, e.g. a picture moved by an interrupted tag.
  ASSIGN_OR_RETURN(const auto under, parts_.objects->List("known/" + person_id + "/"));
  pictures.insert(under.begin(), under.end());
  for (const std::string& key : pictures) {
    ASSIGN_OR_RETURN(const bool there, parts_.objects->Exists(key));
    if (!there) continue;
    RETURN_IF_ERROR(parts_.objects->Delete(key));
    ++out.images;
  }
  ASSIGN_OR_RETURN(const auto clusters, parts_.clusters->DeleteForPerson(person_id));
  if (parts_.observer) parts_.observer->PersonForgotten(person_id, clusters);
  RETURN_IF_ERROR(parts_.audit->Record(actor, "forget", "person:" + person_id,
                                       {{"faces", out.faces},
                                        {"sightings", out.sightings},
                                        {"visits", erased.visits},
                                        {"images", out.images},
                                        {"clusters", clusters.size()}}));
  spdlog::info("train: forget person faces={} sightings={} images={} actor={}", out.faces,
               out.sightings, out.images, actor);
  return out;
}

}  // namespace concierge
