// A sighting: the best crop of one face track, as the edge publishes it and
// the server records it. The wire format (JSON, version 1) is documented in
// docs/sighting-schema.md; Encode and Decode are its only implementation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/types.h"

namespace concierge {

inline constexpr int kSightingSchemaVersion = 1;

struct Sighting {
  std::string id;         // unique per message: [A-Za-z0-9_-], 8..64 chars
  std::string camera;
  std::string site;
  std::string track;      // one face track (visit at one camera); shared by updates
  int seq = 0;            // 0 for the first crop of a track, 1.. for better ones
  int64_t captured_ms = 0;
  // What captured_ms was read from; optional on the wire (kUnstated: not sent).
  CaptureClock capture_clock = CaptureClock::kUnstated;
  Box box;                // in the camera frame
  float detector_score = 0;
  FaceQuality quality;
  float live_score = -1;  // -1 when not measured
  // The picture: the track's best crop with margin, or the best few crops of
  // the track side by side, best first. Raw JPEG bytes (base64 on the wire).
  std::string jpeg;
  // Optional: the face box of each crop in `jpeg`'s pixels, best first, so
  // the server need not detect again. Empty from edges that do not send it.
  std::vector<Box> faces;
  // Optional: the edge's human-face check score (0.5 and up: human); -1 when
  // not sent.
  float human_score = -1;
};

// The most face boxes one sighting may carry.
inline constexpr size_t kMaxSightingFaces = 4;

// Serialises to the v1 JSON payload (JPEG as base64).
std::string EncodeSighting(const Sighting& sighting);

struct DecodeLimits {
  int64_t max_payload_bytes = 4 * 1024 * 1024;
};

// Parses and validates a payload: size limit, JSON, schema version, required
// fields and types, id/camera/site charset (no path tricks), base64. Does not
// decode the JPEG pixels (the ingest stage does, with its dimension check).
// Errors are kInvalidArgument or kTooLarge with a short reason; the reason's
// first word is a stable counter label (e.g. "json: ...", "schema: ...").
Result<Sighting> DecodeSighting(const std::string& payload, const DecodeLimits& limits);

// The MQTT topic for a camera: <prefix>/<site>/<camera>/sightings.
std::string SightingTopic(const std::string& prefix, const std::string& site, const std::string& camera);

// A new random sighting or track id (128 bits, URL-safe).
std::string NewSightingId();

// Standard base64 without line breaks, and its strict inverse (kInvalidArgument
// on any non-alphabet character or bad padding).
std::string Base64Encode(const std::string& bytes);
Result<std::string> Base64Decode(const std::string& text);

}  // namespace concierge
