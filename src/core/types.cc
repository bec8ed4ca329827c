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
  return origin == FaceOrigin::kEnrolled ? "enrolled" : "tagged";
}

}  // namespace concierge
