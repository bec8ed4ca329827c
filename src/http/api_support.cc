#include "http/api_support.h"

#include <charconv>

#include <sodium.h>
#include <spdlog/spdlog.h>

#include "core/json_limits.h"
#include "store/face_collection.h"

namespace concierge {

int HttpStatusFor(Status::Code code) {
  switch (code) {
    case Status::Code::kInvalidArgument:
    case Status::Code::kNoFace: return 400;
    case Status::Code::kPermissionDenied: return 403;
    case Status::Code::kNotFound: return 404;
    case Status::Code::kAlreadyExists:
    case Status::Code::kFailedPrecondition: return 409;
    case Status::Code::kTooLarge: return 413;
    case Status::Code::kUnavailable: return 503;
    default: return 500;
  }
}

const char* ErrorCodeFor(int http_status) {
  switch (http_status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 409: return "conflict";
    case 413: return "payload_too_large";
    case 414: return "uri_too_long";
    case 415: return "unsupported_media_type";
    case 429: return "too_many_requests";
    case 503: return "unavailable";
    default: return http_status >= 500 ? "internal" : "bad_request";
  }
}

void SendJson(httplib::Response& res, const nlohmann::json& body, int status) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  // Invalid UTF-8 (e.g. from a file name) must not throw out of a handler.
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

void SendErrorCode(httplib::Response& res, int http_status, std::string_view message) {
  SendJson(res, {{"error", {{"code", ErrorCodeFor(http_status)}, {"message", message}}}},
           http_status);
}

void SendError(httplib::Response& res, const Status& status) {
  const int http_status = HttpStatusFor(status.code());
  if (http_status >= 500 && http_status != 503) {
    spdlog::error("http: request failed status=\"{}\"", status.ToString());
    SendErrorCode(res, http_status, "internal error; see the server log");
    return;
  }
  SendErrorCode(res, http_status, status.message());
}

std::optional<nlohmann::json> ReadJsonObject(const httplib::Request& req, httplib::Response& res) {
  const std::string type = req.get_header_value("Content-Type");
  const std::string_view media = std::string_view(type).substr(0, type.find(';'));
  if (media != "application/json") {
    SendErrorCode(res, 415, "Content-Type must be application/json");
    return std::nullopt;
  }
  auto parsed = ParseBoundedJson(req.body, {kMaxJsonBodyBytes, kDefaultMaxJsonDepth});
  if (!parsed.ok()) {
    SendErrorCode(res, HttpStatusFor(parsed.status().code()),
                  "request body: " + parsed.status().message());
    return std::nullopt;
  }
  nlohmann::json doc = std::move(*parsed);
  if (!doc.is_object()) {
    SendErrorCode(res, 400, "request body must be a JSON object");
    return std::nullopt;
  }
  return doc;
}

std::optional<int64_t> ParseBoundedInt(std::string_view text, int64_t min, int64_t max) {
  int64_t value = 0;
  if (text.empty() || text.front() == '-' || text.front() == '+') return std::nullopt;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  if (value < min || value > max) return std::nullopt;
  return value;
}

std::string EncodeCursor(std::string_view position) {
  const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_encoded_len(position.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(position.data()),
                    position.size(), variant);
  out.resize(out.find('\0'));
  return out;
}

namespace {

std::optional<std::string> DecodeCursor(std::string_view cursor) {
  std::string out(cursor.size(), '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), cursor.data(),
                        cursor.size(), nullptr, &len, nullptr,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
    return std::nullopt;
  out.resize(len);
  return out;
}

}  // namespace

std::optional<PageRequest> ReadPage(const httplib::Request& req, httplib::Response& res) {
  PageRequest page;
  if (req.has_param("limit")) {
    const auto limit = ParseBoundedInt(req.get_param_value("limit"), 1, kMaxPageLimit);
    if (!limit) {
      SendErrorCode(res, 400, "limit must be an integer from 1 to " +
                                  std::to_string(kMaxPageLimit));
      return std::nullopt;
    }
    page.limit = static_cast<int>(*limit);
  }
  if (req.has_param("cursor")) {
    const std::string raw = req.get_param_value("cursor");
    const auto decoded = raw.size() <= kMaxCursorChars ? DecodeCursor(raw) : std::nullopt;
    if (!decoded || decoded->empty()) {
      SendErrorCode(res, 400, "cursor is not one this server returned");
      return std::nullopt;
    }
    page.cursor = *decoded;
  }
  return page;
}

nlohmann::json PageJson(nlohmann::json items, std::string_view next_position) {
  return {{"items", std::move(items)},
          {"next_cursor", next_position.empty() ? nlohmann::json(nullptr)
                                                : nlohmann::json(EncodeCursor(next_position))}};
}

std::optional<std::string> ReadPathId(const httplib::Request& req, httplib::Response& res,
                                      size_t index) {
  const std::string id = index < req.matches.size() ? req.matches[index].str() : "";
  if (Status s = ValidateStoreId(id); !s.ok()) {
    SendError(res, s);
    return std::nullopt;
  }
  return id;
}

std::optional<int64_t> ReadPathInt(const httplib::Request& req, httplib::Response& res,
                                   size_t index) {
  const std::string text = index < req.matches.size() ? req.matches[index].str() : "";
  const auto id = ParseBoundedInt(text, 1, INT64_MAX);
  if (!id) SendErrorCode(res, 400, "id must be a positive integer");
  return id;
}

}  // namespace concierge
