#include "support/bus_collector.h"

#include <set>

namespace concierge::testing {

Handler PayloadCollector::handler() {
  return [this](const Message& m) {
    std::lock_guard lock(mu_);
    got_.push_back(m.payload);
    return Status::Ok();
  };
}

size_t PayloadCollector::size() {
  std::lock_guard lock(mu_);
  return got_.size();
}

std::vector<std::string> PayloadCollector::payloads() {
  std::lock_guard lock(mu_);
  return got_;
}

std::vector<std::string> PayloadCollector::distinct(size_t* repeats) {
  const std::vector<std::string> all = payloads();
  std::set<std::string> seen;
  std::vector<std::string> out;
  for (const auto& p : all)
    if (seen.insert(p).second) out.push_back(p);
  if (repeats) *repeats = all.size() - out.size();
  return out;
}

std::vector<std::string> Numbers(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back(std::to_string(i));
  return out;
}

}  // namespace concierge::testing
