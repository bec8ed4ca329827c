// The cameras of the API. A viewer may list them and watch them:
//   GET    /api/v1/cameras         those running here, then those of the config
//                                  file that do not run here ("not running")
//   GET    /api/v1/cameras/{name}  one running here
//   GET    /api/v1/cameras/{name}/preview.mjpg  its live multipart/x-mixed-replace
//                                  JPEG stream, face boxes drawn
// An admin adds, changes and removes them (audited):
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

#include "http/api_context.h"

namespace concierge {

// Needs a context whose parts outlive the server; without ctx.auth every route
// answers 503. ctx.config may be null (no config file: only running cameras
// are listed, and changes answer 503), and ctx.cameras (no cameras here).
// Stop the server before the camera registry goes away, after
// CameraRegistry::Close() so open previews end.
void RegisterCameraRoutes(httplib::Server& server, const ApiContext& ctx);

}  // namespace concierge
