#include "bus/bus_group.h"

#include <utility>

namespace concierge {

BusGroup::BusGroup(std::vector<std::unique_ptr<Bus>> members) : members_(std::move(members)) {}

BusGroup::~BusGroup() { Stop(); }

Status BusGroup::Publish(const Message& m) {
  if (members_.empty()) return Status::FailedPrecondition("bus group has no members");
  return members_.front()->Publish(m);
}

Status BusGroup::Subscribe(const std::string& topic_filter, Handler handler) {
  for (auto& member : members_) RETURN_IF_ERROR(member->Subscribe(topic_filter, handler));
  return Status::Ok();
}

Status BusGroup::Flush(std::chrono::milliseconds timeout) {
  for (auto& member : members_) RETURN_IF_ERROR(member->Flush(timeout));
  return Status::Ok();
}

void BusGroup::Stop() {
  for (auto& member : members_) member->Stop();
}

BusStats BusGroup::Stats() const {
  BusStats sum;
  for (const auto& member : members_) {
    const BusStats s = member->Stats();
    sum.published += s.published;
    sum.delivered += s.delivered;
    sum.handler_errors += s.handler_errors;
    sum.dropped += s.dropped;
    sum.rejected += s.rejected;
  }
  return sum;
}

Status BusGroup::Ready() const {
  for (const auto& member : members_) RETURN_IF_ERROR(member->Ready());
  return Status::Ok();
}

}  // namespace concierge
