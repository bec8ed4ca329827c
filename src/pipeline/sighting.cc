#include "pipeline/sighting.h"

#include <cmath>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <nlohmann/json.hpp>

#include "core/json_limits.h"

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
  // One text per byte string: stray bits in the last character or padding in
  // the middle would otherwise decode to the same bytes as another text.
  if (Base64Encode(out) != text) return Status::InvalidArgument("base64: not canonical");
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
  if (s.capture_clock != CaptureClock::kUnstated) j["capture_clock"] = ToString(s.capture_clock);
  return j.dump();
}

namespace {

// The largest coordinate or size (px) a box may have: beyond any camera frame.
constexpr double kMaxBoxPx = 65536;
// The latest capture time accepted: 9999-12-31 (a bound against overflow, not a clock check).
constexpr int64_t kMaxCapturedMs = 253402300799999;
constexpr int64_t kMaxSeq = 1'000'000'000;

Status FieldError(const char* key, const std::string& what) {
  return Status::InvalidArgument(std::string("schema: '") + key + "' " + what);
}

// The member `key` of object `j` as a finite number within [min, max].
Result<float> NumberIn(const nlohmann::json& j, const char* key, double min, double max) {
  const auto it = j.find(key);
  if (it == j.end()) return FieldError(key, "is missing");
  if (!it->is_number()) return FieldError(key, "must be a number");
  const double v = it->get<double>();
  if (!(v >= min && v <= max))
    return FieldError(key, "must be " + nlohmann::json(min).dump() + ".." +
                               nlohmann::json(max).dump());
  return static_cast<float>(v);
}

// The member `key` of object `j` as an integer within [min, max].
Result<int64_t> IntegerIn(const nlohmann::json& j, const char* key, int64_t min, int64_t max) {
  const auto it = j.find(key);
  if (it == j.end()) return FieldError(key, "is missing");
  const bool fits = it->is_number_integer() &&
                    (it->is_number_unsigned() ? it->get<uint64_t>() <= static_cast<uint64_t>(max)
                                              : it->get<int64_t>() <= max) &&
                    (it->is_number_unsigned() || it->get<int64_t>() >= min);
  if (!fits)
    return FieldError(key, "must be an integer " + std::to_string(min) + ".." +
                               std::to_string(max));
  return it->get<int64_t>();
}

Result<std::string> StringField(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return FieldError(key, "must be a string");
  return it->get<std::string>();
}

// [x, y, w, h] with x, y >= 0 and min_side <= w, h, all at most kMaxBoxPx.
Result<Box> BoxOf(const nlohmann::json& v, const char* what, double min_side) {
  if (!v.is_array() || v.size() != 4)
    return Status::InvalidArgument(std::string("schema: ") + what + " must be [x,y,w,h]");
  double n[4];
  for (size_t i = 0; i < 4; ++i) {
    if (!v[i].is_number())
      return Status::InvalidArgument(std::string("schema: ") + what + " must hold numbers");
    n[i] = v[i].get<double>();
    const double min = i < 2 ? 0 : min_side;
    if (!(n[i] >= min && n[i] <= kMaxBoxPx))
      return Status::InvalidArgument(std::string("schema: ") + what +
                                     " is not a box in a picture (x, y >= 0, sides " +
                                     nlohmann::json(min_side).dump() + ".." +
                                     std::to_string(static_cast<int64_t>(kMaxBoxPx)) + ")");
  }
  return Box{static_cast<float>(n[0]), static_cast<float>(n[1]), static_cast<float>(n[2]),
             static_cast<float>(n[3])};
}

Result<Sighting> DecodeFields(const nlohmann::json& j) {
  Sighting s;
  ASSIGN_OR_RETURN(s.id, StringField(j, "id"));
  ASSIGN_OR_RETURN(s.camera, StringField(j, "camera"));
  ASSIGN_OR_RETURN(s.site, StringField(j, "site"));
  ASSIGN_OR_RETURN(s.track, StringField(j, "track"));
  ASSIGN_OR_RETURN(const int64_t seq, IntegerIn(j, "seq", 0, kMaxSeq));
  s.seq = static_cast<int>(seq);
  ASSIGN_OR_RETURN(s.captured_ms, IntegerIn(j, "captured_ms", 0, kMaxCapturedMs));
  if (!j.contains("box")) return FieldError("box", "is missing");
  ASSIGN_OR_RETURN(s.box, BoxOf(j["box"], "box", 1));
  ASSIGN_OR_RETURN(s.detector_score, NumberIn(j, "detector_score", 0, 1));
  const auto q = j.find("quality");
  if (q == j.end() || !q->is_object()) return FieldError("quality", "must be an object");
  ASSIGN_OR_RETURN(s.quality.size_px, NumberIn(*q, "size_px", 0, kMaxBoxPx));
  ASSIGN_OR_RETURN(s.quality.sharpness, NumberIn(*q, "sharpness", 0, 1e9));
  ASSIGN_OR_RETURN(s.quality.yaw_deg, NumberIn(*q, "yaw", -180, 180));
  ASSIGN_OR_RETURN(s.quality.pitch_deg, NumberIn(*q, "pitch", -180, 180));
  ASSIGN_OR_RETURN(s.quality.brightness, NumberIn(*q, "brightness", 0, 255));
  ASSIGN_OR_RETURN(s.quality.score, NumberIn(*q, "score", 0, 1));
  ASSIGN_OR_RETURN(s.live_score, NumberIn(j, "live_score", -1, 1));
  if (s.live_score < 0 && s.live_score != -1)
    return FieldError("live_score", "must be 0..1, or -1 when not measured");
  ASSIGN_OR_RETURN(const std::string jpeg_base64, StringField(j, "jpeg"));
  ASSIGN_OR_RETURN(s.jpeg, Base64Decode(jpeg_base64));
  if (j.contains("faces")) {
    const auto& faces = j["faces"];
    if (!faces.is_array() || faces.empty() || faces.size() > kMaxSightingFaces)
      return Status::InvalidArgument("schema: faces must be a list of 1 to " +
                                     std::to_string(kMaxSightingFaces) + " boxes");
    for (const auto& f : faces) {
      ASSIGN_OR_RETURN(const Box b, BoxOf(f, "each face", 2));
      s.faces.push_back(b);
    }
  }
  if (j.contains("human_score")) {
    ASSIGN_OR_RETURN(s.human_score, NumberIn(j, "human_score", 0, 1));
  }
  if (j.contains("capture_clock")) {
    ASSIGN_OR_RETURN(const std::string clock, StringField(j, "capture_clock"));
    if (!ParseCaptureClock(clock, &s.capture_clock))
      return FieldError("capture_clock",
                        "must be camera, file_start_plus_offset, file_modified or "
                        "replay_start_plus_offset");
  }
  return s;
}

}  // namespace

Result<Sighting> DecodeSighting(const std::string& payload, const DecodeLimits& limits) {
  if (static_cast<int64_t>(payload.size()) > limits.max_payload_bytes)
    return Status::TooLarge("size: payload is " + std::to_string(payload.size()) +
                            " bytes, limit " + std::to_string(limits.max_payload_bytes));
  // A sighting nests three levels; the bound only keeps deep junk cheap.
  auto parsed = ParseBoundedJson(payload, {payload.size(), 8});
  if (!parsed.ok()) return Status::InvalidArgument("json: " + parsed.status().message());
  if (!parsed->is_object()) return Status::InvalidArgument("json: payload is not a JSON object");
  const nlohmann::json& j = *parsed;
  if (!j.contains("v") || !j["v"].is_number_integer())
    return Status::InvalidArgument("schema: missing version field 'v'");
  if (j["v"] != kSightingSchemaVersion)
    return Status::InvalidArgument("version: unsupported schema version " + j["v"].dump());
  ASSIGN_OR_RETURN(Sighting s, DecodeFields(j));
  RETURN_IF_ERROR(CheckName("id", s.id, 8, 64));
  RETURN_IF_ERROR(CheckName("camera", s.camera, 1, 64));
  RETURN_IF_ERROR(CheckName("site", s.site, 1, 64));
  RETURN_IF_ERROR(CheckName("track", s.track, 1, 64));
  if (s.jpeg.empty()) return Status::InvalidArgument("schema: jpeg is empty");
  return s;
}

}  // namespace concierge
