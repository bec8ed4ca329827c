#include "http/route_support.h"

#include <spdlog/spdlog.h>

#include "http/api_support.h"
#include "store/audit_log.h"

namespace concierge {

namespace {

constexpr size_t kMaxUploads = 20;      // photos in one request
constexpr size_t kMaxNameChars = 128;  // display names

}  // namespace

bool Have(const void* part, const char* what, httplib::Response& res) {
  if (part) return true;
  SendError(res, Status::Unavailable(std::string(what) + " is not running in this process"));
  return false;
}

void RefuseWithoutAuthenticator(httplib::Response& res) {
  SendError(res, Status::Unavailable("authentication is not configured"));
}

void AuditAction(const ApiContext& ctx, const Principal& who, const std::string& action,
                 const std::string& target, const nlohmann::json& detail) {
  AuditAction(ctx, who.actor, action, target, detail);
}

void AuditAction(const ApiContext& ctx, const std::string& actor, const std::string& action,
                 const std::string& target, const nlohmann::json& detail) {
  if (!ctx.audit) return;
  const Status s = ctx.audit->Record(actor, action, target, detail);
  if (!s.ok()) spdlog::error("api: audit of {} failed: {}", action, s.ToString());
}

ImageLimits UploadLimits(const ApiContext& ctx) {
  return {ctx.config->vision.max_image_bytes, ctx.config->vision.max_image_pixels};
}

void SendJpeg(httplib::Response& res, std::string bytes) {
  res.set_header("Cache-Control", "private, no-store");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_content(std::move(bytes), "image/jpeg");
}

Status NoPicture(const ApiContext& ctx, const std::string& otherwise) {
  if (ctx.config && ctx.config->retention.embeddings_only)
    return Status::NotFound("pictures are not kept: embeddings-only mode");
  return Status::NotFound(otherwise);
}

std::optional<std::vector<Upload>> ReadUploads(const ApiContext& ctx,
                                               const httplib::Request& req,
                                               httplib::Response& res) {
  std::vector<Upload> uploads;
  if (req.is_multipart_form_data()) {
    const auto range = req.files.equal_range("image");
    for (auto it = range.first; it != range.second; ++it)
      uploads.push_back({it->second.filename, it->second.content});
    if (uploads.empty()) {
      SendError(res, Status::InvalidArgument("no multipart field named image"));
      return std::nullopt;
    }
  } else {
    const std::string type = req.get_header_value("Content-Type");
    if (type.rfind("image/jpeg", 0) != 0 && type.rfind("image/png", 0) != 0) {
      SendErrorCode(res, 415, "send image/jpeg, image/png or multipart/form-data");
      return std::nullopt;
    }
    uploads.push_back({"body", req.body});
  }
  if (uploads.size() > kMaxUploads) {
    SendErrorCode(res, 413, "at most " + std::to_string(kMaxUploads) + " photos per request");
    return std::nullopt;
  }
  // Size, format and header dimensions first, so a bomb is never decoded.
  const ImageLimits limits = UploadLimits(ctx);
  for (const auto& u : uploads) {
    if (static_cast<int64_t>(u.bytes.size()) > limits.max_bytes) {
      SendError(res, Status::TooLarge(u.file + " is over " + std::to_string(limits.max_bytes) +
                                      " bytes"));
      return std::nullopt;
    }
    auto header = PeekImageHeader(u.bytes);
    if (!header.ok() || (header->format != "jpeg" && header->format != "png")) {
      SendErrorCode(res, 415, u.file + " is not a JPEG or PNG image");
      return std::nullopt;
    }
    if (static_cast<int64_t>(header->width) * header->height > limits.max_pixels) {
      SendError(res, Status::TooLarge(u.file + " is over " + std::to_string(limits.max_pixels) +
                                      " pixels"));
      return std::nullopt;
    }
  }
  return uploads;
}

std::optional<std::string> ReadDisplayName(const nlohmann::json& body, httplib::Response& res) {
  const nlohmann::json name = body.value("name", nlohmann::json());
  if (!name.is_string() || name.get<std::string>().empty() ||
      name.get<std::string>().size() > kMaxNameChars) {
    SendError(res, Status::InvalidArgument("name must be 1..128 characters"));
    return std::nullopt;
  }
  return name.get<std::string>();
}

nlohmann::json QualityJson(const FaceQuality& q, const QualityGate& gate) {
  return {{"size_px", q.size_px},
          {"sharpness", q.sharpness},
          {"yaw", q.yaw_deg},
          {"pitch", q.pitch_deg},
          {"brightness", q.brightness},
          {"score", q.score},
          {"passes", QualityRejection(q, gate).empty()}};
}

}  // namespace concierge
