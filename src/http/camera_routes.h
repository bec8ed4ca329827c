// Cameras added, changed and removed through the API (admin; audited):
//   POST   /api/v1/cameras         {name, site?, url, detect_fps?}
//   PUT    /api/v1/cameras/{name}  {site?, url?, detect_fps?}
//   DELETE /api/v1/cameras/{name}
//   POST   /api/v1/cameras/test    {url, name?}: opens the stream (bounded in
//          time), answers {ok, width, height, preview (a JPEG data URL), error}
// Only network cameras (rtsp, rtsps, http, https URLs): the API never makes
// the server read a local file, folder or device; such cameras of the config
// file stay read-only. Cameras live in edge.cameras of the config file, the
// only place their credentials are kept; every answer, audit entry and log
// line shows a URL as "user:***@", and a URL sent back so keeps the stored
// password. Each change applies at once through ctx.apply_camera when this
// process reads cameras; the answer's `applied` and `message` say whether.
#pragma once

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "http/api_context.h"

namespace concierge {

// Needs ctx.auth and ctx.config, outliving the server.
void RegisterCameraRoutes(httplib::Server& server, const ApiContext& ctx);

// The config file's cameras as the API shows them, by name: {name, site,
// source_kind, detect_fps, editable, url (network cameras only, redacted)}.
// An empty object when the file cannot be read (logged).
nlohmann::json ConfiguredCameras(const ApiContext& ctx);

}  // namespace concierge
