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

// An embedding with the id of the recipe that made it (EmbedderSpec::id):
// vectors are only ever compared with vectors of the same model.
struct ModelEmbedding {
  std::string model;
  Embedding vector;
};

// A face's embeddings, at most one per model, the primary model's first.
using Descriptor = std::vector<ModelEmbedding>;

// The vector of `model` in `d`, or null.
const Embedding* FindEmbedding(const Descriptor& d, const std::string& model);

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
  float human_score = -1;  // the human-face check's confidence, 0..1; -1: not checked here
  bool human = false;      // passed the human-face check (or was vouched for)
  FivePoints points{};
  FaceQuality quality;
  float live_score = -1;  // 0..1, or -1 when anti-spoofing did not run
  Descriptor embeddings;  // as asked: none, the primary model's, or every model's
};

// How a person wants the notifier to treat them (core/person_preferences.h
// has the JSON form the API and the stores share).
struct PersonPreferences {
  enum class Greeting {
    kUsual,     // as notify.greet_* say
    kMuted,     // never greeted
    kOncePerDay // only their first arrival of the (local) day
  };
  // Direct messages the person gets in chat (needs their external id).
  enum class Alerts {
    kNone,
    kStrangers  // each stranger asked about ("alert me only for strangers")
  };
  Greeting greeting = Greeting::kUsual;
  Alerts alerts = Alerts::kNone;
  std::string host;  // a person told (direct message) when this one arrives; "" none

  bool operator==(const PersonPreferences&) const = default;
};

struct Person {
  std::string id;            // stable id chosen by the user or derived from a name
  std::string display_name;
  std::string external_id;   // e.g. a Slack user id; may be empty
  int64_t created_ms = 0;
  PersonPreferences preferences;
};

// How a face came into a person's gallery: enrolled from a photo, tagged from
// a stranger's sighting, or learned from a confidently recognised sighting.
enum class FaceOrigin { kEnrolled, kTagged, kLearned };

struct FaceRecord {
  int64_t id = 0;
  std::string person_id;
  std::string collection;
  Descriptor embeddings;  // one per model
  std::string image_key;  // object-store key of the face's picture, may be empty
  Box box;                // the face in that picture; w == 0 when not recorded
  float quality = 0;
  FaceOrigin origin = FaceOrigin::kEnrolled;
  std::string sighting_id;  // the sighting a tagged or learned face came from; may be empty
  int64_t created_ms = 0;
};

// One search hit: the person and how similar (cosine, -1..1) the probe was,
// by the collection's primary model and by each of its models.
struct Match {
  std::string person_id;
  float similarity = -1;       // by the primary model (scores[0])
  std::vector<float> scores;   // per model of the collection; NaN where the probe has no vector
  int64_t face_id = 0;         // best face of that person (0 for centroid search)
};

const char* ToString(FaceOrigin origin);
// Reads "enrolled", "tagged" or "learned" into *origin; false for anything else.
bool ParseFaceOrigin(const std::string& text, FaceOrigin* origin);

// What a capture time was read from (docs/sighting-schema.md, "Capture time"):
// only a camera's clock says when the face was really there.
enum class CaptureClock {
  kUnstated,      // an edge that does not say
  kCamera,        // the wall clock when a camera's or stream's frame was decoded
  kFileStart,     // a video file's start (modified time minus duration) plus the frame's offset
  kFileModified,  // a photo file's modification time
  kReplayStart,   // a video replayed in real time: when the replay began plus the frame's offset
};

// "unstated", "camera", "file_start_plus_offset", "file_modified", "replay_start_plus_offset".
const char* ToString(CaptureClock clock);
// Reads a name ToString gives into *clock; false for anything else.
bool ParseCaptureClock(const std::string& text, CaptureClock* clock);

}  // namespace concierge
