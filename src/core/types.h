// Plain value types shared by every module. No behaviour beyond small helpers.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace concierge {

// Axis-aligned box in source-image pixels.
struct Box {
  float x = 0, y = 0, w = 0, h = 0;
  float area() const { return w > 0 && h > 0 ? w * h : 0.f; }
  float right() const { return x + w; }
  float bottom() const { return y + h; }
};

// Intersection over union of two boxes; 0 when either is empty.
float IoU(const Box& a, const Box& b);

struct Point {
  float x = 0, y = 0;
};

// Five alignment points in the ArcFace order: left eye, right eye, nose tip,
// left mouth corner, right mouth corner (left/right as seen in the image).
using FivePoints = std::array<Point, 5>;

// L2-normalised face descriptor.
using Embedding = std::vector<float>;

// Measurements that every quality decision uses (enrolment gate, best crop,
// "ask about this stranger?").
struct FaceQuality {
  float size_px = 0;      // shorter side of the face box
  float sharpness = 0;    // variance of the Laplacian on the aligned grey face
  float yaw_deg = 0;      // head turn; 0 is frontal
  float pitch_deg = 0;    // head nod; 0 is level
  float brightness = 0;   // mean grey level of the aligned face, 0..255
  float score = 0;        // overall, 0..1; higher is better
};

// A face found in an image, with everything the vision engine measured.
struct FaceObservation {
  Box box;
  float detector_score = 0;
  FivePoints points{};
  FaceQuality quality;
  float live_score = -1;  // 0..1, or -1 when anti-spoofing did not run
  Embedding embedding;    // empty when not embedded
};

struct Person {
  std::string id;            // stable id chosen by the user or derived from a name
  std::string display_name;
  std::string external_id;   // e.g. a Slack user id; may be empty
  int64_t created_ms = 0;
};

enum class FaceOrigin { kEnrolled, kTagged };

struct FaceRecord {
  int64_t id = 0;
  std::string person_id;
  std::string collection;
  Embedding embedding;
  std::string image_key;  // object-store key of the source picture, may be empty
  float quality = 0;
  FaceOrigin origin = FaceOrigin::kEnrolled;
  int64_t created_ms = 0;
};

// One search hit: the person and how similar (cosine, -1..1) the probe was.
struct Match {
  std::string person_id;
  float similarity = -1;
  int64_t face_id = 0;  // best face of that person (0 for centroid search)
};

const char* ToString(FaceOrigin origin);

}  // namespace concierge
