// A person's data export (a GDPR access request): one ZIP holding
//   person.json      the person record
//   faces.json       their gallery faces (no embeddings), faces/<id>.jpg pictures
//   sightings.json   their sightings, sightings/<id>.jpg pictures still kept
//   visits.json      their visits
//   audit.json       audit entries about them (target "person:<id>")
// Reads only; thread-safe as the stores are.
#pragma once

#include <string>

#include "core/status.h"
#include "store/audit_log.h"
#include "store/face_collection.h"
#include "store/object_store.h"
#include "store/sighting_store.h"

namespace concierge {

struct PersonExportParts {
  const FaceCollection* faces = nullptr;
  SightingStore* sightings = nullptr;
  ObjectStore* objects = nullptr;
  AuditLog* audit = nullptr;  // null: no audit.json
};

// Needs the parts (all but audit non-null) and a writable `path`. Writes the
// ZIP there (replacing it). kNotFound for an unknown person; a picture that
// is gone from the object store is left out, not an error.
Status ExportPerson(const PersonExportParts& parts, const std::string& person_id,
                    const std::string& path);

}  // namespace concierge
