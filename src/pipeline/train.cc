#include "pipeline/train.h"

#include <algorithm>
#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "pipeline/enrol.h"
#include "pipeline/gallery.h"
#include "pipeline/recognise.h"
#include "vision/face_quality.h"

namespace concierge {

namespace {

bool IsNotFound(const Status& s) { return s.code() == Status::Code::kNotFound; }

// Copies a picture to the key its new label gives it, tolerating a copy that
// already happened (a retried action). Returns the key the picture is at now,
// or "" when it is gone. Copy, relabel, then RemoveRelabelledPicture: after a
// crash at any point the row names a picture that exists.
Result<std::string> CopyPicture(ObjectStore* objects, const std::string& from,
                                const std::string& to) {
  if (from.empty()) return std::string();
  if (from == to) return to;
  Result<std::string> bytes = objects->Get(from);
  if (bytes.ok()) {
    RETURN_IF_ERROR(objects->Put(to, *bytes));
    return to;
  }
  if (!IsNotFound(bytes.status())) return bytes.status();
  ASSIGN_OR_RETURN(const bool there, objects->Exists(to));
  return there ? to : std::string();
}

// The old picture of a relabelled sighting. A failure leaves a copy that no
// row names (space, never a lost picture), so it is logged, not returned.
void RemoveRelabelledPicture(ObjectStore* objects, const std::string& sighting_id,
                             const std::string& from, const std::string& to) {
  if (from.empty() || to.empty() || from == to) return;
  if (const Status gone = objects->Delete(from); !gone.ok())
    spdlog::warn("train: sighting={} could not remove its old picture {}: {}", sighting_id, from,
                 gone.message());
}

}  // namespace

Trainer::Trainer(const QualityGate& quality, const ImageLimits& limits, TrainerParts parts)
    : quality_(quality), limits_(limits), parts_(parts) {}

void Trainer::SetObserver(TrainingObserver* observer) {
  std::lock_guard<std::mutex> lock(mu_);
  parts_.observer = observer;
}

void Trainer::SetMatcher(Matcher* matcher) {
  std::lock_guard<std::mutex> lock(mu_);
  parts_.matcher = matcher;
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
  if (name.empty() && parts_.chat) {
    ASSIGN_OR_RETURN(const ChatUser user, parts_.chat->LookUp(who.external_id));
    name = user.real_name;
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
  ASSIGN_OR_RETURN(TagOutcome out, TagClusterLocked(cluster_id, who, actor, std::nullopt));
  if (out.already_done) return out;
  // The tag stands either way; a failed re-check leaves those questions open.
  Result<std::vector<int64_t>> resolved =
      ResolveOpenStrangersLocked(out.person_id,
                                 {actor, "tag", "cluster:" + std::to_string(cluster_id)});
  if (resolved.ok())
    out.also_resolved = std::move(*resolved);
  else
    spdlog::error("train: re-checking open strangers after a tag: {}",
                  resolved.status().ToString());
  return out;
}

Result<std::vector<int64_t>> Trainer::ResolveOpenStrangers(const std::string& person_id,
                                                           const TagCause& because) {
  std::lock_guard<std::mutex> lock(mu_);
  return ResolveOpenStrangersLocked(person_id, because);
}

Result<std::vector<int64_t>> Trainer::ResolveOpenStrangersLocked(const std::string& person_id,
                                                                 const TagCause& because) {
  std::vector<int64_t> resolved;
  if (!parts_.matcher) return resolved;
  const std::string& primary = parts_.engine->embedders().front().id;
  std::vector<int64_t> matching;
  std::string cursor;
  do {
    ASSIGN_OR_RETURN(const ClusterPage page,
                     parts_.clusters->List(ClusterState::kOpen, 500, cursor));
    for (const StrangerCluster& c : page.items) {
      Result<SightingRecord> best = parts_.sightings->Get(c.best_sighting_id);
      if (IsNotFound(best.status())) continue;
      RETURN_IF_ERROR(best.status());
      if (best->embedding.empty()) continue;
      FaceView view;
      view.face.human = true;
      view.face.embeddings = {{primary, best->embedding}};
      std::vector<FaceView> views{std::move(view)};
      ASSIGN_OR_RETURN(const MatchDecision d, parts_.matcher->Decide(*parts_.engine, views));
      if (d.person_id == person_id) matching.push_back(c.id);
    }
    cursor = page.next_cursor;
  } while (!cursor.empty());
  // Tagged after the listing: tagging grows the gallery, which moves the pages.
  for (int64_t id : matching) {
    Result<TagOutcome> tagged =
        TagClusterLocked(id, {.person_id = person_id}, kConciergeActor, because);
    // Resolved meanwhile (another server, a click): nothing to do.
    if (tagged.status().code() == Status::Code::kFailedPrecondition) continue;
    RETURN_IF_ERROR(tagged.status());
    resolved.push_back(id);
  }
  return resolved;
}

Result<TagOutcome> Trainer::TagClusterLocked(int64_t cluster_id, const PersonChoice& who,
                                             const std::string& actor,
                                             const std::optional<TagCause>& because) {
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
                     CopyPicture(parts_.objects, s.image_key,
                                 DecidedImageKey(s, Decision::kKnown, out.person_id)));
    // Embeddings-only mode kept the face's vectors instead of its picture.
    const bool vectors_only = key.empty() && !s.descriptor.empty();
    bool passes = (!key.empty() || vectors_only) && QualityRejection(s.quality, quality_).empty();
    if (passes && !indexed.count(s.id) && vectors_only) {
      RETURN_IF_ERROR(
          AddGalleryVectors(*parts_.faces, out.person_id, s, FaceOrigin::kTagged).status());
    } else if (passes && !indexed.count(s.id)) {
      ASSIGN_OR_RETURN(const std::string jpeg, parts_.objects->Get(key));
      Result<FaceView> view = DescribeSightingFace(*parts_.engine, jpeg, s.faces, limits_);
      passes = view.ok();
      if (view.status().code() != Status::Code::kNoFace) RETURN_IF_ERROR(view.status());
      if (passes)
        RETURN_IF_ERROR(AddGalleryFace(*parts_.engine, parts_.objects, *parts_.faces,
                                       out.person_id, view->image, view->face,
                                       FaceOrigin::kTagged, s.id)
                            .status());
    }
    ++(passes ? out.faces_indexed : out.faces_skipped);
    RETURN_IF_ERROR(parts_.sightings->Relabel(s.id, Decision::kKnown, out.person_id, key));
    RemoveRelabelledPicture(parts_.objects, s.id, s.image_key, key);
  }
  ASSIGN_OR_RETURN(const bool changed, parts_.clusters->Resolve(cluster_id, ClusterState::kTagged,
                                                                out.person_id, actor));
  nlohmann::json details = {{"person_id", out.person_id},
                            {"person_created", out.person_created},
                            {"faces_indexed", out.faces_indexed},
                            {"faces_skipped", out.faces_skipped}};
  if (because)
    details["because"] = {
        {"actor", because->actor}, {"action", because->action}, {"target", because->target}};
  RETURN_IF_ERROR(parts_.audit->Record(actor, "tag", "cluster:" + std::to_string(cluster_id),
                                       std::move(details)));
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

Result<StrangerCluster> Trainer::MergeClusters(int64_t into, const std::vector<int64_t>& from,
                                               const std::string& actor) {
  if (from.empty()) return Status::InvalidArgument("name at least one cluster to merge");
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int64_t> absorbed;
  for (int64_t id : from) {
    if (id == into || std::find(absorbed.begin(), absorbed.end(), id) != absorbed.end())
      return Status::InvalidArgument("cluster " + std::to_string(id) +
                                     " is named twice; merge different clusters");
    absorbed.push_back(id);
  }
  for (int64_t id : absorbed) {
    for (int64_t check : {into, id}) {
      ASSIGN_OR_RETURN(const StrangerCluster c, parts_.clusters->Get(check));
      if (c.state != ClusterState::kOpen)
        return Status::FailedPrecondition("cluster " + std::to_string(check) + " is " +
                                          ToString(c.state) + "; only open clusters merge");
    }
  }
  StrangerCluster merged;
  for (int64_t id : absorbed) {
    ASSIGN_OR_RETURN(merged, parts_.clusters->Merge(into, id));
    spdlog::info("train: merge cluster={} into={} actor={}", id, into, actor);
  }
  RETURN_IF_ERROR(parts_.audit->Record(actor, "cluster.merge", "cluster:" + std::to_string(into),
                                       {{"merged", absorbed}, {"sightings", merged.sightings}}));
  if (parts_.observer) parts_.observer->ClustersMerged(merged, absorbed, actor);
  return merged;
}

Result<StrangerCluster> Trainer::SplitCluster(int64_t cluster_id,
                                              const std::vector<std::string>& sighting_ids,
                                              const std::string& actor) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(const auto members, parts_.clusters->Sightings(cluster_id));
  std::vector<SightingRecord> records;
  for (const ClusterMember& m : members) {
    ASSIGN_OR_RETURN(SightingRecord s, parts_.sightings->Get(m.sighting_id));
    records.push_back(std::move(s));
  }
  ASSIGN_OR_RETURN(const StrangerCluster created,
                   parts_.clusters->Split(cluster_id, records, sighting_ids));
  RETURN_IF_ERROR(parts_.audit->Record(
      actor, "cluster.split", "cluster:" + std::to_string(cluster_id),
      {{"new_cluster", created.id}, {"sightings", sighting_ids}}));
  spdlog::info("train: split cluster={} new={} sightings={} actor={}", cluster_id, created.id,
               sighting_ids.size(), actor);
  if (parts_.observer) {
    ASSIGN_OR_RETURN(const StrangerCluster remaining, parts_.clusters->Get(cluster_id));
    parts_.observer->ClusterSplit(remaining, created, actor);
  }
  return created;
}

Status Trainer::NotMeInChat(const std::string& sighting_id, const std::string& chat_user,
                            const std::string& actor) {
  ASSIGN_OR_RETURN(const SightingRecord s, parts_.sightings->Get(sighting_id));
  if (s.decision == Decision::kKnown && s.person_id) {
    ASSIGN_OR_RETURN(const Person greeted, parts_.faces->GetPerson(*s.person_id));
    if (greeted.external_id.empty() || greeted.external_id != chat_user) {
      bool admin = false;
      if (parts_.chat) {
        ASSIGN_OR_RETURN(const ChatUser user, parts_.chat->LookUp(chat_user));
        admin = user.admin;
      }
      if (!admin)
        return Status::PermissionDenied(
            "only the person greeted or a workspace admin can say this was someone else");
    }
  }
  return NotMe(sighting_id, actor);
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
    // Without a picture (embeddings-only mode) the stored vector is the example.
    Result<std::string> jpeg = s.image_key.empty()
                                   ? Result<std::string>(Status::NotFound("no picture"))
                                   : parts_.objects->Get(s.image_key);
    if (jpeg.ok()) {
      Result<FaceView> view = DescribeSightingFace(*parts_.engine, *jpeg, s.faces, limits_);
      if (view.ok())
        RETURN_IF_ERROR(parts_.faces->AddNegative(person_id, view->face.embeddings, s.id));
      else if (view.status().code() != Status::Code::kNoFace)
        return view.status();
    } else if (!IsNotFound(jpeg.status())) {
      return jpeg.status();
    } else if (!s.embedding.empty()) {
      RETURN_IF_ERROR(parts_.faces->AddNegative(
          person_id, {{parts_.engine->embedders().front().id, s.embedding}}, s.id));
    }
  } else if (!IsNotFound(faces.status())) {
    return faces.status();
  }
  ASSIGN_OR_RETURN(const std::string key,
                   CopyPicture(parts_.objects, s.image_key,
                               DecidedImageKey(s, Decision::kUnknown, std::nullopt)));
  RETURN_IF_ERROR(parts_.sightings->Relabel(s.id, Decision::kUnknown, std::nullopt, key));
  RemoveRelabelledPicture(parts_.objects, s.id, s.image_key, key);
  RETURN_IF_ERROR(parts_.audit->Record(actor, "not_me", "sighting:" + s.id,
                                       {{"person_id", person_id},
                                        {"faces_removed", faces_removed}}));
  spdlog::info("train: not-me sighting={} person={} faces_removed={} actor={}", s.id, person_id,
               faces_removed, actor);
  if (parts_.observer) parts_.observer->SightingDisowned(s, person_id, actor);
  return Status::Ok();
}

Result<MergeOutcome> Trainer::MergePeople(const std::string& into, const std::string& from,
                                          const std::string& actor) {
  if (from == into) return Status::InvalidArgument("a person cannot be merged into themselves");
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(parts_.faces->GetPerson(into).status());
  RETURN_IF_ERROR(parts_.faces->GetPerson(from).status());
  MergeOutcome out;
  // Sightings first: until the collection step they may name `into` while the
  // faces are still `from`'s, which a repeat of the merge completes.
  SightingQuery query;
  query.limit = 0;
  query.person_id = from;
  ASSIGN_OR_RETURN(const std::vector<SightingRecord> sightings, parts_.sightings->List(query));
  for (const SightingRecord& s : sightings) {
    ASSIGN_OR_RETURN(const std::string key,
                     CopyPicture(parts_.objects, s.image_key,
                                 DecidedImageKey(s, Decision::kKnown, into)));
    RETURN_IF_ERROR(parts_.sightings->Relabel(s.id, Decision::kKnown, into, key));
    RemoveRelabelledPicture(parts_.objects, s.id, s.image_key, key);
  }
  out.sightings = static_cast<int64_t>(sightings.size());

  // Face pictures are copied before the collection names the copies, and the
  // originals removed after.
  const std::string old_prefix = "faces/" + from + "/";
  std::map<std::string, std::string> rekeyed;
  ASSIGN_OR_RETURN(const std::vector<FaceRecord> faces, parts_.faces->ListFaces(from));
  for (const FaceRecord& face : faces) {
    if (face.image_key.rfind(old_prefix, 0) != 0 || rekeyed.count(face.image_key)) continue;
    const std::string to = "faces/" + into + "/" + face.image_key.substr(old_prefix.size());
    ASSIGN_OR_RETURN(const std::string key, CopyPicture(parts_.objects, face.image_key, to));
    rekeyed[face.image_key] = key;
  }
  ASSIGN_OR_RETURN(out.faces, parts_.faces->MergePerson(from, into, rekeyed));
  for (const auto& [old_key, new_key] : rekeyed)
    RemoveRelabelledPicture(parts_.objects, "(face of " + from + ")", old_key, new_key);

  ASSIGN_OR_RETURN(const auto clusters, parts_.clusters->DeleteForPerson(from));
  out.clusters = static_cast<int64_t>(clusters.size());
  if (parts_.observer) parts_.observer->PersonForgotten(from, clusters);
  RETURN_IF_ERROR(parts_.audit->Record(actor, "person.merge", "person:" + into,
                                       {{"from", from},
                                        {"faces", out.faces},
                                        {"sightings", out.sightings},
                                        {"clusters", out.clusters}}));
  spdlog::info("train: merged person {} into {} faces={} sightings={} actor={}", from, into,
               out.faces, out.sightings, actor);
  return out;
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
