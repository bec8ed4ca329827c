#include "pipeline/person_export.h"

#include <zip.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/clock.h"

namespace concierge {

namespace {

using json = nlohmann::json;

// A ZIP being written with libzip; the entries' bytes are kept alive until Close.
class ZipWriter {
 public:
  ~ZipWriter() {
    if (zip_) zip_discard(zip_);
  }
  Status Open(const std::string& path) {
    int error = 0;
    zip_ = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
    if (!zip_) {
      zip_error_t e;
      zip_error_init_with_code(&e, error);
      Status s = Status::IoError("cannot create " + path + ": " + zip_error_strerror(&e));
      zip_error_fini(&e);
      return s;
    }
    return Status::Ok();
  }
  Status Add(const std::string& name, std::string bytes) {
    data_.push_back(std::make_unique<std::string>(std::move(bytes)));
    const std::string& kept = *data_.back();
    zip_source_t* source = zip_source_buffer(zip_, kept.data(), kept.size(), 0);
    if (!source || zip_file_add(zip_, name.c_str(), source, ZIP_FL_ENC_UTF_8) < 0) {
      if (source) zip_source_free(source);
      return Status::IoError("cannot add " + name + " to the export: " + zip_strerror(zip_));
    }
    return Status::Ok();
  }
  Status Close() {
    if (zip_close(zip_) < 0) return Status::IoError(std::string("export: ") + zip_strerror(zip_));
    zip_ = nullptr;
    return Status::Ok();
  }

 private:
  zip_t* zip_ = nullptr;
  std::vector<std::unique_ptr<std::string>> data_;
};

json Iso(int64_t ms) { return ms > 0 ? json(FormatIsoUtc(ms)) : json(nullptr); }

}  // namespace

Status ExportPerson(const PersonExportParts& parts, const std::string& person_id,
                    const std::string& path) {
  ASSIGN_OR_RETURN(const Person person, parts.faces->GetPerson(person_id));
  ZipWriter zip;
  RETURN_IF_ERROR(zip.Open(path));
  RETURN_IF_ERROR(zip.Add("person.json", json{{"id", person.id},
                                              {"name", person.display_name},
                                              {"external_id", person.external_id},
                                              {"created", Iso(person.created_ms)}}
                                             .dump(2)));
  ASSIGN_OR_RETURN(const std::vector<FaceRecord> faces, parts.faces->ListFaces(person_id));
  json faces_json = json::array();
  for (const FaceRecord& f : faces) {
    json entry{{"id", f.id},
               {"origin", ToString(f.origin)},
               {"quality", f.quality},
               {"sighting", f.sighting_id},
               {"created", Iso(f.created_ms)},
               {"picture", nullptr}};
    if (!f.image_key.empty()) {
      if (Result<std::string> bytes = parts.objects->Get(f.image_key); bytes.ok()) {
        const std::string name = "faces/" + std::to_string(f.id) + ".jpg";
        RETURN_IF_ERROR(zip.Add(name, std::move(*bytes)));
        entry["picture"] = name;
      }
    }
    faces_json.push_back(std::move(entry));
  }
  RETURN_IF_ERROR(zip.Add("faces.json", faces_json.dump(2)));

  ASSIGN_OR_RETURN(const std::vector<SightingRecord> sightings,
                   parts.sightings->List({.limit = 0, .person_id = person_id}));
  json sightings_json = json::array();
  for (const SightingRecord& s : sightings) {
    json entry{{"id", s.id},
               {"camera", s.camera},
               {"site", s.site},
               {"time", Iso(s.captured_ms)},
               {"similarity", s.similarity ? json(*s.similarity) : json(nullptr)},
               {"decision", ToString(s.decision)},
               {"visit", s.visit_id ? json(*s.visit_id) : json(nullptr)},
               {"picture", nullptr}};
    if (!s.image_key.empty()) {
      if (Result<std::string> bytes = parts.objects->Get(s.image_key); bytes.ok()) {
        const std::string name = "sightings/" + s.id + ".jpg";
        RETURN_IF_ERROR(zip.Add(name, std::move(*bytes)));
        entry["picture"] = name;
      }
    }
    sightings_json.push_back(std::move(entry));
  }
  RETURN_IF_ERROR(zip.Add("sightings.json", sightings_json.dump(2)));

  ASSIGN_OR_RETURN(const std::vector<VisitRecord> visits,
                   parts.sightings->ListVisits({.limit = 0, .person_id = person_id}));
  json visits_json = json::array();
  for (const VisitRecord& v : visits)
    visits_json.push_back({{"id", v.id},
                           {"site", v.site},
                           {"started", Iso(v.started_ms)},
                           {"last", Iso(v.last_ms)},
                           {"sightings", v.sightings}});
  RETURN_IF_ERROR(zip.Add("visits.json", visits_json.dump(2)));

  if (parts.audit) {
    json audit_json = json::array();
    std::string cursor;
    do {
      ASSIGN_OR_RETURN(const AuditPage page, parts.audit->List(500, cursor));
      for (const AuditEntry& e : page.items)
        if (e.target == "person:" + person_id)
          audit_json.push_back({{"id", e.id},
                                {"at", Iso(e.at_ms)},
                                {"actor", e.actor},
                                {"action", e.action},
                                {"detail", e.detail}});
      cursor = page.next_cursor;
    } while (!cursor.empty());
    RETURN_IF_ERROR(zip.Add("audit.json", audit_json.dump(2)));
  }
  return zip.Close();
}

}  // namespace concierge
