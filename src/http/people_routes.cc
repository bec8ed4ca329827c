// People and their faces: create, rename, merge, preferences, enrol photos,
// list and delete faces, forget.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <httplib.h>

#include "http/api_support.h"
#include "http/data_routes.h"
#include "http/resource_json.h"
#include "http/route_support.h"
#include "core/clock.h"
#include "core/person_preferences.h"
#include "pipeline/enrol.h"
#include "pipeline/train.h"
#include "store/face_collection.h"
#include "store/object_store.h"
#include "vision/face_engine.h"

namespace concierge {

namespace {

using httplib::Request;
using httplib::Response;
using json = nlohmann::json;

class PeopleRoutes {
 public:
  explicit PeopleRoutes(const ApiContext& ctx) : ctx_(ctx) {}

  void Register(httplib::Server& server, const std::shared_ptr<PeopleRoutes>& self) {
    const Role viewer = Role::kViewer, admin = Role::kAdmin;
    server.Get("/api/v1/people", Route(self, ctx_, viewer, &PeopleRoutes::ListPeople));
    server.Post("/api/v1/people", Route(self, ctx_, admin, &PeopleRoutes::CreatePerson));
    server.Get("/api/v1/people/([^/]+)", Route(self, ctx_, viewer, &PeopleRoutes::GetPerson));
    server.Patch("/api/v1/people/([^/]+)",
                 Route(self, ctx_, admin, &PeopleRoutes::RenamePerson));
    server.Post("/api/v1/people/([^/]+)/merge",
                Route(self, ctx_, admin, &PeopleRoutes::MergePerson));
    server.Put("/api/v1/people/([^/]+)/preferences",
               Route(self, ctx_, admin, &PeopleRoutes::SetPreferences));
    server.Post("/api/v1/people/([^/]+)/faces",
                Route(self, ctx_, admin, &PeopleRoutes::EnrolFaces));
    server.Get("/api/v1/people/([^/]+)/faces",
               Route(self, ctx_, viewer, &PeopleRoutes::ListFaces));
    server.Delete("/api/v1/people/([^/]+)/faces/([^/]+)",
                  Route(self, ctx_, admin, &PeopleRoutes::DeleteFace));
    server.Get("/api/v1/faces/([^/]+)/image", Route(self, ctx_, viewer, &PeopleRoutes::FaceImage));
    server.Post("/api/v1/people/([^/]+)/forget",
                Route(self, ctx_, admin, &PeopleRoutes::ForgetPerson));
  }

 private:
  void ListPeople(const Request& req, Response& res, const Principal& who);
  void CreatePerson(const Request& req, Response& res, const Principal& who);
  void GetPerson(const Request& req, Response& res, const Principal& who);
  void RenamePerson(const Request& req, Response& res, const Principal& who);
  void MergePerson(const Request& req, Response& res, const Principal& who);
  void SetPreferences(const Request& req, Response& res, const Principal& who);
  void EnrolFaces(const Request& req, Response& res, const Principal& who);
  void ListFaces(const Request& req, Response& res, const Principal& who);
  void DeleteFace(const Request& req, Response& res, const Principal& who);
  void FaceImage(const Request& req, Response& res, const Principal& who);
  void ForgetPerson(const Request& req, Response& res, const Principal& who);

  json PersonJson(const Person& p) const;
  // Answers the person as stored now.
  void SendPerson(Response& res, const std::string& id, int status = 200) const;

  const ApiContext ctx_;
};

json PeopleRoutes::PersonJson(const Person& p) const {
  auto faces = ctx_.faces->ListFaces(p.id);
  // The thumbnail: their best face that still has its picture.
  const FaceRecord* best = nullptr;
  if (faces.ok())
    for (const FaceRecord& f : *faces)
      if (!f.image_key.empty() && (!best || f.quality > best->quality)) best = &f;
  return {{"id", p.id},
          {"name", p.display_name},
          {"external_id", p.external_id.empty() ? json(nullptr) : json(p.external_id)},
          {"faces", faces.ok() ? faces->size() : 0},
          {"thumbnail_url",
           best ? json("/api/v1/faces/" + std::to_string(best->id) + "/image") : json(nullptr)},
          {"preferences", ToJson(p.preferences)},
          {"created", IsoOrNull(p.created_ms)},
          {"created_ms", p.created_ms}};
}

void PeopleRoutes::SendPerson(Response& res, const std::string& id, int status) const {
  auto person = ctx_.faces->GetPerson(id);
  if (!person.ok()) return SendError(res, person.status());
  SendJson(res, PersonJson(*person), status);
}

void PeopleRoutes::ListPeople(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.faces, "the face collection", res)) return;
  auto page = ReadPage(req, res);
  if (!page) return;
  if (!page->cursor.empty() && !ValidateStoreId(page->cursor).ok())
    return SendError(res, Status::InvalidArgument("malformed cursor"));
  auto people = ctx_.faces->ListPersons();  // ordered by id
  if (!people.ok()) return SendError(res, people.status());
  auto it = std::upper_bound(people->begin(), people->end(), page->cursor,
                             [](const std::string& key, const Person& p) { return key < p.id; });
  json items = json::array();
  std::string next;
  for (; it != people->end(); ++it) {
    if (items.size() == static_cast<size_t>(page->limit)) {
      next = std::prev(it)->id;
      break;
    }
    items.push_back(PersonJson(*it));
  }
  SendJson(res, PageJson(std::move(items), next));
}

void PeopleRoutes::CreatePerson(const Request& req, Response& res, const Principal& who) {
  if (!Have(ctx_.faces, "the face collection", res)) return;
  auto body = ReadJsonObject(req, res);
  if (!body) return;
  auto name = ReadDisplayName(*body, res);
  if (!name) return;
  Person person{"", *name, "", NowMs()};
  if (body->contains("id")) {
    const json& id = (*body)["id"];
    if (!id.is_string()) return SendError(res, Status::InvalidArgument("id must be a string"));
    person.id = id.get<std::string>();
    if (Status s = ValidateStoreId(person.id); !s.ok()) return SendError(res, s);
    if (Status s = ctx_.faces->AddPerson(person); !s.ok()) return SendError(res, s);
  } else {
    auto id = AddPersonNamed(*ctx_.faces, person.display_name);
    if (!id.ok()) return SendError(res, id.status());
    person.id = *id;
  }
  AuditAction(ctx_, who, "person.create", "person:" + person.id);
  SendPerson(res, person.id, 201);
}

void PeopleRoutes::GetPerson(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.faces, "the face collection", res)) return;
  auto id = ReadPathId(req, res);
  if (!id) return;
  SendPerson(res, *id);
}

void PeopleRoutes::RenamePerson(const Request& req, Response& res, const Principal& who) {
  if (!Have(ctx_.faces, "the face collection", res)) return;
  auto id = ReadPathId(req, res);
  if (!id) return;
  auto body = ReadJsonObject(req, res);
  if (!body) return;
  auto name = ReadDisplayName(*body, res);
  if (!name) return;
  if (Status s = ctx_.faces->RenamePerson(*id, *name); !s.ok())
    return SendError(res, s);
  AuditAction(ctx_, who, "person.rename", "person:" + *id);
  SendPerson(res, *id);
}

void PeopleRoutes::MergePerson(const Request& req, Response& res, const Principal& who) {
  if (!Have(ctx_.faces, "the face collection", res) || !Have(ctx_.trainer, "training", res))
    return;
  auto into = ReadPathId(req, res);
  if (!into) return;
  auto body = ReadJsonObject(req, res);
  if (!body) return;
  const json from_json = body->value("from", json());
  if (!from_json.is_string())
    return SendError(res, Status::InvalidArgument("from must be a person id"));
  const std::string from = from_json.get<std::string>();
  if (Status s = ValidateStoreId(from); !s.ok()) return SendError(res, s);
  auto merged = ctx_.trainer->MergePeople(*into, from, who.actor);
  if (!merged.ok()) return SendError(res, merged.status());
  SendPerson(res, *into);
}

void PeopleRoutes::SetPreferences(const Request& req, Response& res, const Principal& who) {
  if (!Have(ctx_.faces, "the face collection", res)) return;
  auto id = ReadPathId(req, res);
  if (!id) return;
  auto body = ReadJsonObject(req, res);
  if (!body) return;
  auto preferences = PersonPreferencesFromJson(*body);
  if (!preferences.ok()) return SendError(res, preferences.status());
  if (!preferences->host.empty()) {
    if (Status s = ValidateStoreId(preferences->host); !s.ok()) return SendError(res, s);
  }
  if (Status s = ctx_.faces->SetPreferences(*id, *preferences); !s.ok()) return SendError(res, s);
  AuditAction(ctx_, who, "person.preferences", "person:" + *id, ToJson(*preferences));
  SendPerson(res, *id);
}

void PeopleRoutes::EnrolFaces(const Request& req, Response& res, const Principal& who) {
  if (!Have(ctx_.faces, "the face collection", res) ||
      !Have(ctx_.objects, "the object store", res) || !Have(ctx_.engine, "face analysis", res))
    return;
  auto id = ReadPathId(req, res);
  if (!id) return;
  if (auto p = ctx_.faces->GetPerson(*id); !p.ok()) return SendError(res, p.status());
  auto uploads = ReadUploads(ctx_, req, res);
  if (!uploads) return;
  const EnrolParts parts{ctx_.engine, ctx_.faces,
                         ctx_.config->retention.embeddings_only ? nullptr : ctx_.objects,
                         ctx_.config->quality};
  json results = json::array();
  int accepted = 0;
  for (const auto& u : *uploads) {
    json result{{"file", u.file}, {"accepted", false}};
    EnrolFindings findings;
    auto image = DecodeImage(u.bytes, UploadLimits(ctx_));
    Result<EnrolOutcome> outcome =
        image.ok()
            ? EnrolPhoto(parts, {.person_id = *id, .create_person = false}, *image, &findings)
            : Result<EnrolOutcome>(image.status());
    if (findings.quality) result["quality"] = QualityJson(*findings.quality, parts.gate);
    result["faces_found"] = findings.faces_found;
    if (outcome.ok()) {
      ++accepted;
      result["accepted"] = true;
      result["face_id"] = outcome->face_id;
      result["reasons"] = json::array();
    } else {
      const Status& s = outcome.status();
      // Storage trouble is the server's, not the photo's.
      if (s.code() == Status::Code::kIoError || s.code() == Status::Code::kInternal ||
          s.code() == Status::Code::kUnavailable)
        return SendError(res, s);
      result["reasons"] = json::array({s.message()});
    }
    results.push_back(std::move(result));
  }
  json resolved = json::array();
  if (accepted > 0) {
    AuditAction(ctx_, who, "face.enrol", "person:" + *id, {{"faces", accepted}});
    // Open "who is this?" questions that were this person are answered now.
    if (ctx_.trainer) {
      auto strangers = ctx_.trainer->ResolveOpenStrangers(*id, {who.actor, "enroll", "person:" + *id});
      if (!strangers.ok()) return SendError(res, strangers.status());
      resolved = *strangers;
    }
  }
  SendJson(res, {{"results", std::move(results)}, {"strangers_resolved", std::move(resolved)}});
}

void PeopleRoutes::ListFaces(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.faces, "the face collection", res)) return;
  auto id = ReadPathId(req, res);
  if (!id) return;
  auto page = ReadPage(req, res);
  if (!page) return;
  int64_t after = 0;
  if (!page->cursor.empty()) {
    auto parsed = ParseBoundedInt(page->cursor, 1, INT64_MAX);
    if (!parsed) return SendError(res, Status::InvalidArgument("malformed cursor"));
    after = *parsed;
  }
  auto faces = ctx_.faces->ListFaces(*id);  // ordered by id
  if (!faces.ok()) return SendError(res, faces.status());
  json items = json::array();
  std::string next;
  for (const auto& f : *faces) {
    if (f.id <= after) continue;
    if (items.size() == static_cast<size_t>(page->limit)) {
      next = items.back()["id"].dump();
      break;
    }
    items.push_back({{"id", f.id},
                     {"quality", f.quality},
                     {"origin", ToString(f.origin)},
                     {"created", IsoOrNull(f.created_ms)},
                     {"created_ms", f.created_ms},
                     {"image_url", f.image_key.empty() ? json(nullptr)
                                                       : json("/api/v1/faces/" +
                                                              std::to_string(f.id) + "/image")}});
  }
  SendJson(res, PageJson(std::move(items), next));
}

void PeopleRoutes::DeleteFace(const Request& req, Response& res, const Principal& who) {
  if (!Have(ctx_.faces, "the face collection", res) || !Have(ctx_.objects, "the object store", res))
    return;
  auto person = ReadPathId(req, res, 1);
  if (!person) return;
  auto face_id = ReadPathInt(req, res, 2);
  if (!face_id) return;
  auto faces = ctx_.faces->ListFaces(*person);
  if (!faces.ok()) return SendError(res, faces.status());
  auto face = std::find_if(faces->begin(), faces->end(),
                           [&](const FaceRecord& f) { return f.id == *face_id; });
  if (face == faces->end())
    return SendError(
        res, Status::NotFound("person " + *person + " has no face " + std::to_string(*face_id)));
  if (Status s = ctx_.faces->DeleteFace(*face_id); !s.ok()) return SendError(res, s);
  if (!face->image_key.empty()) {
    if (Status s = ctx_.objects->Delete(face->image_key); !s.ok())
      spdlog::warn("api: face {} deleted but its picture stays: {}", *face_id, s.ToString());
  }
  AuditAction(ctx_, who, "face.delete", "person:" + *person, {{"face", *face_id}});
  res.status = 204;
}

void PeopleRoutes::FaceImage(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.faces, "the face collection", res) || !Have(ctx_.objects, "the object store", res))
    return;
  auto face_id = ReadPathInt(req, res);
  if (!face_id) return;
  auto key = FindFaceImageKey(*ctx_.faces, *face_id);
  if (key.status().code() == Status::Code::kNotFound)
    return SendError(res, NoPicture(ctx_, key.status().message()));
  if (!key.ok()) return SendError(res, key.status());
  auto bytes = ctx_.objects->Get(*key);
  if (!bytes.ok()) return SendError(res, bytes.status());
  SendJpeg(res, std::move(*bytes));
}

void PeopleRoutes::ForgetPerson(const Request& req, Response& res, const Principal& who) {
  if (!Have(ctx_.trainer, "training", res)) return;
  auto id = ReadPathId(req, res);
  if (!id) return;
  auto forgotten = ctx_.trainer->ForgetPerson(*id, who.actor);
  if (!forgotten.ok()) return SendError(res, forgotten.status());
  SendJson(res, {{"faces", forgotten->faces},
                 {"sightings", forgotten->sightings},
                 {"images", forgotten->images}});
}

}  // namespace

void RegisterPeopleRoutes(httplib::Server& server, const ApiContext& ctx) {
  auto routes = std::make_shared<PeopleRoutes>(ctx);
  routes->Register(server, routes);
}

}  // namespace concierge
