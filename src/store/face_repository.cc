#include "store/face_repository.h"

namespace concierge {

FaceRowGrouper::FaceRowGrouper(const std::vector<VectorSpace>& spaces, const FaceVisitor& visit)
    : spaces_(spaces), visit_(visit) {
  face_.units.resize(spaces_.size());
}

const VectorSpace* FaceRowGrouper::SpaceOf(std::string_view model) const {
  for (const VectorSpace& space : spaces_)
    if (space.model == model) return &space;
  return nullptr;
}

Status FaceRowGrouper::Add(int64_t face_id, std::string_view person_id, const VectorSpace* space,
                           Embedding unit) {
  if (have_ > 0 && face_id != face_.id) RETURN_IF_ERROR(Finish());
  face_.id = face_id;
  face_.person_id = person_id;
  Embedding& slot = face_.units[static_cast<size_t>(space - spaces_.data())];
  if (slot.empty()) {
    slot = std::move(unit);
    ++have_;
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
