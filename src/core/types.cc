#include "core/types.h"

#include <algorithm>

namespace concierge {

float IoU(const Box& a, const Box& b) {
  const float ix = std::max(0.f, std::min(a.right(), b.right()) - std::max(a.x, b.x));
  const float iy = std::max(0.f, std::min(a.bottom(), b.bottom()) - std::max(a.y, b.y));
  const float inter = ix * iy;
  const float uni = a.area() + b.area() - inter;
  return uni > 0 ? inter / uni : 0.f;
}

const char* ToString(FaceOrigin origin) {
  switch (origin) {
    case FaceOrigin::kEnrolled: return "enrolled";
    case FaceOrigin::kTagged: return "tagged";
    case FaceOrigin::kLearned: return "learned";
  }
  return "enrolled";
}

bool ParseFaceOrigin(const std::string& text, FaceOrigin* origin) {
  for (FaceOrigin o : {FaceOrigin::kEnrolled, FaceOrigin::kTagged, FaceOrigin::kLearned})
    if (text == ToString(o)) {
      *origin = o;
      return true;
    }
  return false;
}

const char* ToString(CaptureClock clock) {
  switch (clock) {
    case CaptureClock::kUnstated: return "unstated";
    case CaptureClock::kCamera: return "camera";
    case CaptureClock::kFileStart: return "file_start_plus_offset";
    case CaptureClock::kFileModified: return "file_modified";
    case CaptureClock::kReplayStart: return "replay_start_plus_offset";
  }
  return "unstated";
}

bool ParseCaptureClock(const std::string& text, CaptureClock* clock) {
  for (CaptureClock c : {CaptureClock::kUnstated, CaptureClock::kCamera, CaptureClock::kFileStart,
                         CaptureClock::kFileModified, CaptureClock::kReplayStart})
    if (text == ToString(c)) {
      *clock = c;
      return true;
    }
  return false;
}

const Embedding* FindEmbedding(const Descriptor& d, const std::string& model) {
  for (const auto& e : d)
    if (e.model == model) return &e.vector;
  return nullptr;
}

}  // namespace concierge
