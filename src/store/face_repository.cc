#include "store/face_repository.h"

namespace concierge {

FaceRowGrouper::FaceRowGrouper(const std::vector<VectorSpace>& spaces, const FaceVisitor& visit)
    : spaces_(spaces), visit_(visit) {
  face_.units.resize(spaces_.size());
}

Status FaceRowGrouper::Add(int64_t face_id, std::string_view person_id, std::string_view model,
                           Embedding unit) {
  if (have_ > 0 && face_id != face_.id) RETURN_IF_ERROR(Finish());
  face_.id = face_id;
  face_.person_id = person_id;
  for (size_t s = 0; s < spaces_.size(); ++s) {
    if (spaces_[s].model != model || !face_.units[s].empty()) continue;
    face_.units[s] = std::move(unit);
    ++have_;
    break;
  }
  return Status::Ok();
}

Status FaceRowGrouper::Finish() {
  Status st = Status::Ok();
  if (have_ == spaces_.size() && have_ > 0) st = visit_(face_);
  for (Embedding& unit : face_.units) unit.clear();
  have_ = 0;
  return st;
}

}  // namespace concierge
