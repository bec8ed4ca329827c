// What a bus delivered to a test: the payloads a handler received, and the
// numbered payloads tests publish.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

#include "bus/bus.h"

namespace concierge::testing {

// Collects the payloads of the messages handed to handler(), thread-safely.
class PayloadCollector {
 public:
  // A handler that records each message's payload and returns OK; valid while this lives.
  Handler handler();
  // How many messages arrived so far (repeats included).
  size_t size();
  // The payloads in order of arrival (repeats included).
  std::vector<std::string> payloads();
  // The payloads in order of first arrival (QoS 1 is at-least-once); `repeats`,
  // when given, gets how many arrivals were repeats.
  std::vector<std::string> distinct(size_t* repeats = nullptr);

 private:
  std::mutex mu_;
  std::vector<std::string> got_;
};

// "from", "from+1", ... up to "to-1": the payloads tests publish in order.
std::vector<std::string> Numbers(int from, int to);

}  // namespace concierge::testing
