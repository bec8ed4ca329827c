// How every resource's routes are written: a class holding the ApiContext
// with one member function per endpoint, bound with Route() behind the role
// check, answering through api_support.h. Also what several resources share:
// the "part not running here" answer, audit records, image answers and photo
// uploads.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "http/api_context.h"
#include "http/auth.h"
#include "vision/face_quality.h"
#include "vision/image_io.h"

namespace concierge {

// Answers 503: no route that needs a principal serves without an authenticator.
void RefuseWithoutAuthenticator(httplib::Response& res);

template <typename Routes>
using RouteHandler = void (Routes::*)(const httplib::Request&, httplib::Response&,
                                      const Principal&);

// The handler runs for a principal with at least `role`; anyone else gets the
// Authenticator's 401 or 403, and everyone a 503 when ctx.auth is null.
template <typename Routes>
httplib::Server::Handler Route(const std::shared_ptr<Routes>& self, const ApiContext& ctx,
                               Role role, RouteHandler<Routes> handler) {
  const Authenticator* auth = ctx.auth;
  return [self, auth, role, handler](const httplib::Request& req, httplib::Response& res) {
    if (auth == nullptr) return RefuseWithoutAuthenticator(res);
    std::optional<Principal> who = auth->Require(req, res, role);
    if (!who) return;
    ((*self).*handler)(req, res, *who);
  };
}

// False (after answering 503) when a part a route needs is not running here.
bool Have(const void* part, const char* what, httplib::Response& res);

// Records `action` on `target` by `who` when the server keeps an audit log; a
// failure is logged, never answered (the action itself happened).
void AuditAction(const ApiContext& ctx, const Principal& who, const std::string& action,
                 const std::string& target,
                 const nlohmann::json& detail = nlohmann::json::object());
// The same for an actor named without a principal (a login attempt).
void AuditAction(const ApiContext& ctx, const std::string& actor, const std::string& action,
                 const std::string& target,
                 const nlohmann::json& detail = nlohmann::json::object());

// The configured bounds of an uploaded picture (vision.max_image_*).
ImageLimits UploadLimits(const ApiContext& ctx);

// Sets an image answer that no cache keeps, so a logout really ends access.
void SendJpeg(httplib::Response& res, std::string bytes);

// The 404 for a picture that is not there: `otherwise`, or in embeddings-only
// mode (retention.embeddings_only) that no picture is kept at all.
Status NoPicture(const ApiContext& ctx, const std::string& otherwise);

// An uploaded photo: the raw body, or one multipart field "image".
struct Upload {
  std::string file;
  std::string bytes;
};

// The photos of a request: one raw image/jpeg or image/png body, or up to 20
// multipart fields named "image", each within UploadLimits by its size and
// header (nothing is decoded). Otherwise answers 400/413/415 and returns nullopt.
std::optional<std::vector<Upload>> ReadUploads(const ApiContext& ctx,
                                               const httplib::Request& req,
                                               httplib::Response& res);

// The body's "name": a display name of 1..128 characters, or nullopt after a 400.
std::optional<std::string> ReadDisplayName(const nlohmann::json& body, httplib::Response& res);

// A face's quality measures and whether they pass `gate`.
nlohmann::json QualityJson(const FaceQuality& quality, const QualityGate& gate);

}  // namespace concierge
