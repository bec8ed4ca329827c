#include "core/types.h"

#include <algorithm>
#include <cctype>

namespace concierge {

float IoU(const Box& a, const Box& b) {
  const float ix = std::max(0.f, std::min(a.right(), b.right()) - std::max(a.x, b.x));
  const float iy = std::max(0.f, std::min(a.bottom(), b.bottom()) - std::max(a.y, b.y));
  const float inter = ix * iy;
  const float uni = a.area() + b.area() - inter;
  return uni > 0 ? inter / uni : 0.f;
}

Status ValidatePersonId(const std::string& id) {
  if (id.empty() || id.size() > 64) return Status::InvalidArgument("person id must be 1..64 characters");
  if (!std::isalnum(static_cast<unsigned char>(id[0])))
    return Status::InvalidArgument("person id '" + id + "' must start with a letter or digit");
  for (char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
      return Status::InvalidArgument("person id '" + id + "' may hold only letters, digits, '.', '_' and '-'");
  return Status::Ok();
}

const char* ToString(FaceOrigin origin) {
  return origin == FaceOrigin::kEnrolled ? "enrolled" : "tagged";
}

}  // namespace concierge
