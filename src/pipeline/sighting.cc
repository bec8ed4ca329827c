#include "pipeline/sighting.h"

#include <cmath>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <nlohmann/json.hpp>

namespace concierge {

namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

Status CheckName(const char* field, const std::string& v, size_t min_len, size_t max_len) {
  if (v.size() < min_len || v.size() > max_len)
    return Status::InvalidArgument(std::string("schema: ") + field + " must be " + std::to_string(min_len) +
                                   ".." + std::to_string(max_len) + " characters");
  for (char c : v)
    if (!IsNameChar(c))
      return Status::InvalidArgument(std::string("schema: ") + field + " may hold only [A-Za-z0-9_-]");
  return Status::Ok();
}

}  // namespace

std::string Base64Encode(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> Base64Decode(const std::string& text) {
  if (text.size() % 4 != 0) return Status::InvalidArgument("base64: length is not a multiple of 4");
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
                       c == '/';
    const bool pad = c == '=' && i + 2 >= text.size();
    if (!alpha && !pad) return Status::InvalidArgument("base64: invalid character");
  }
  std::string out(3 * text.size() / 4, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return Status::InvalidArgument("base64: cannot decode");
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string NewSightingId() {
  unsigned char raw[16];
  RAND_bytes(raw, sizeof(raw));
  static const char* kHex = "0123456789abcdef";
  std::string id;
  for (unsigned char c : raw) {
    id += kHex[c >> 4];
    id += kHex[c & 15];
  }
  return id;
}

std::string SightingTopic(const std::string& prefix, const std::string& site, const std::string& camera) {
  return prefix + "/" + site + "/" + camera + "/sightings";
}

std::string EncodeSighting(const Sighting& s) {
  const FaceQuality& q = s.quality;
  nlohmann::json j = {
      {"v", kSightingSchemaVersion},
      {"id", s.id},
      {"camera", s.camera},
      {"site", s.site},
      {"track", s.track},
      {"seq", s.seq},
      {"captured_ms", s.captured_ms},
      {"box", {s.box.x, s.box.y, s.box.w, s.box.h}},
      {"detector_score", s.detector_score},
      {"quality", {{"size_px", q.size_px}, {"sharpness", q.sharpness}, {"yaw", q.yaw_deg},
                   {"pitch", q.pitch_deg}, {"brightness", q.brightness}, {"score", q.score}}},
      {"live_score", s.live_score},
      {"jpeg", Base64Encode(s.jpeg)},
  };
  for (const Box& b : s.faces) j["faces"].push_back({b.x, b.y, b.w, b.h});
  if (s.human_score >= 0) j["human_score"] = s.human_score;
  return j.dump();
}

Result<Sighting> DecodeSighting(const std::string& payload, const DecodeLimits& limits) {
  if (static_cast<int64_t>(payload.size()) > limits.max_payload_bytes)
    return Status::TooLarge("size: payload is " + std::to_string(payload.size()) + " bytes, limit " +
                            std::to_string(limits.max_payload_bytes));
  const nlohmann::json j = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("json: payload is not a JSON object");
  if (!j.contains("v") || !j["v"].is_number_integer())
    return Status::InvalidArgument("schema: missing version field 'v'");
  if (j["v"].get<int>() != kSightingSchemaVersion)
    return Status::InvalidArgument("version: unsupported schema version " + j["v"].dump());
  Sighting s;
  try {
    s.id = j.at("id").get<std::string>();
    s.camera = j.at("camera").get<std::string>();
    s.site = j.at("site").get<std::string>();
    s.track = j.at("track").get<std::string>();
    s.seq = j.at("seq").get<int>();
    s.captured_ms = j.at("captured_ms").get<int64_t>();
    const auto& box = j.at("box");
    if (!box.is_array() || box.size() != 4) return Status::InvalidArgument("schema: box must be [x,y,w,h]");
    s.box = {box[0].get<float>(), box[1].get<float>(), box[2].get<float>(), box[3].get<float>()};
    s.detector_score = j.at("detector_score").get<float>();
    const auto& q = j.at("quality");
    s.quality = {q.at("size_px").get<float>(), q.at("sharpness").get<float>(), q.at("yaw").get<float>(),
                 q.at("pitch").get<float>(), q.at("brightness").get<float>(), q.at("score").get<float>()};
    s.live_score = j.at("live_score").get<float>();
    ASSIGN_OR_RETURN(s.jpeg, Base64Decode(j.at("jpeg").get<std::string>()));
    if (j.contains("faces")) {
      const auto& faces = j["faces"];
      if (!faces.is_array() || faces.empty() || faces.size() > kMaxSightingFaces)
        return Status::InvalidArgument("schema: faces must be a list of 1 to " +
                                       std::to_string(kMaxSightingFaces) + " boxes");
      for (const auto& f : faces) {
        if (!f.is_array() || f.size() != 4)
          return Status::InvalidArgument("schema: each face must be [x,y,w,h]");
        const Box b{f[0].get<float>(), f[1].get<float>(), f[2].get<float>(), f[3].get<float>()};
        if (!std::isfinite(b.x) || !std::isfinite(b.y) || !(b.w >= 2) || !(b.h >= 2) ||
            !std::isfinite(b.w) || !std::isfinite(b.h) || b.x < 0 || b.y < 0)
          return Status::InvalidArgument("schema: a face box is not a box in the picture");
        s.faces.push_back(b);
      }
    }
    if (j.contains("human_score")) {
      s.human_score = j["human_score"].get<float>();
      if (!(s.human_score >= 0 && s.human_score <= 1))
        return Status::InvalidArgument("schema: human_score must be 0..1");
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("schema: ") + e.what());
  }
  RETURN_IF_ERROR(CheckName("id", s.id, 8, 64));
  RETURN_IF_ERROR(CheckName("camera", s.camera, 1, 64));
  RETURN_IF_ERROR(CheckName("site", s.site, 1, 64));
  RETURN_IF_ERROR(CheckName("track", s.track, 1, 64));
  if (s.seq < 0) return Status::InvalidArgument("schema: seq must be >= 0");
  if (s.jpeg.empty()) return Status::InvalidArgument("schema: jpeg is empty");
  return s;
}

}  // namespace concierge
