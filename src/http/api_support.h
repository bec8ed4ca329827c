// Helpers every HTTP route module shares, so that errors, JSON bodies, paging
// and ids look the same on every endpoint (see docs/openapi.yaml):
//   errors: HTTP status + {"error": {"code": "<stable_code>", "message": "..."}}
//   pages:  ?limit=1..500 (default 50) & cursor=<opaque>; {"items": [...], "next_cursor": ...}
// The Read* helpers write the error response themselves and return nullopt,
// so a handler can simply `if (!x) return;`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/status.h"

namespace concierge {

inline constexpr int kDefaultPageLimit = 50;
inline constexpr int kMaxPageLimit = 500;
inline constexpr size_t kMaxCursorChars = 512;
inline constexpr size_t kMaxJsonBodyBytes = 1024 * 1024;

// HTTP status for a Status code (InvalidArgument/NoFace 400, PermissionDenied
// 403, NotFound 404, AlreadyExists/FailedPrecondition 409, TooLarge 413,
// Unavailable 503, everything else 500).
int HttpStatusFor(Status::Code code);

// The stable contract code for an HTTP status ("bad_request", "not_found", ...).
const char* ErrorCodeFor(int http_status);

// Sets `status` and a JSON body; API responses are never cached.
void SendJson(httplib::Response& res, const nlohmann::json& body, int status = 200);

// Answers the error JSON for `status` (must not be OK). Internal and I/O
// errors are logged and answered with a generic message, so database paths
// and SQL never reach a client.
void SendError(httplib::Response& res, const Status& status);

// Answers {"error": {"code": ErrorCodeFor(http_status), "message": message}}
// for errors no Status code names (401, 415, 429).
void SendErrorCode(httplib::Response& res, int http_status, std::string_view message);

// Needs a request with Content-Type application/json and a body that is one
// JSON object of at most kMaxJsonBodyBytes, nested at most
// kDefaultMaxJsonDepth deep (ParseBoundedJson). Returns the object, or answers
// 415 / 413 / 400 and returns nullopt.
std::optional<nlohmann::json> ReadJsonObject(const httplib::Request& req, httplib::Response& res);

// The requested page: `limit` (default kDefaultPageLimit) and the raw cursor
// ("" for the first page).
struct PageRequest {
  int limit = kDefaultPageLimit;
  std::string cursor;
};

// Parses ?limit and ?cursor. A limit outside 1..kMaxPageLimit, or a cursor
// that is not base64url of at most kMaxCursorChars, answers 400 and returns
// nullopt. The cursor is returned decoded (see EncodeCursor).
std::optional<PageRequest> ReadPage(const httplib::Request& req, httplib::Response& res);

// Makes an opaque, URL-safe cursor from a module's own position string (e.g.
// "<ms>:<id>"); ReadPage gives the same string back.
std::string EncodeCursor(std::string_view position);

// {"items": items, "next_cursor": EncodeCursor(next) or null when next is empty}.
nlohmann::json PageJson(nlohmann::json items, std::string_view next_position);

// req.matches[index] when it is a valid store id (ValidateStoreId), else
// answers 400 and returns nullopt.
std::optional<std::string> ReadPathId(const httplib::Request& req, httplib::Response& res,
                                      size_t index = 1);

// req.matches[index] as a positive 64-bit integer id, else answers 400 and
// returns nullopt.
std::optional<int64_t> ReadPathInt(const httplib::Request& req, httplib::Response& res,
                                   size_t index = 1);

// Parses a whole decimal integer (no sign, spaces or trailing text) within
// [min, max]; nullopt otherwise.
std::optional<int64_t> ParseBoundedInt(std::string_view text, int64_t min, int64_t max);

}  // namespace concierge
