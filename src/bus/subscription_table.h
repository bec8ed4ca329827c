// Internal to src/bus: topic validation and the handler table both backends route
// with, so shared-subscription and wildcard semantics are identical in each.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bus/bus.h"

namespace concierge::bus_internal {

// A validated subscription filter.
struct ParsedFilter {
  std::string match;  // the MQTT filter without any "$share/<group>/" prefix
  bool shared = false;
};

// Needs nothing. Returns the parsed filter, or kInvalidArgument naming the problem.
Result<ParsedFilter> ParseFilter(const std::string& filter);

// Needs nothing. OK when `m` can be published: non-empty UTF-8 topic without
// wildcards and qos in 0..2; kInvalidArgument otherwise.
Status CheckPublishable(const Message& m);

// Handlers by filter. Thread-safe.
class SubscriptionTable {
 public:
  using HandlerPtr = std::shared_ptr<const Handler>;

  // Needs a filter that ParseFilter accepted. Returns true when the filter is new.
  // kAlreadyExists if another filter already has the same SubscriptionId.
  Result<bool> Add(const std::string& filter, const ParsedFilter& parsed, Handler handler);

  // The handlers due one message on `topic`: all of each matching plain filter and
  // one, in turn, of each matching shared filter. With `ids` non-empty (MQTT v5
  // subscription identifiers), filters match by id instead of by topic.
  std::vector<HandlerPtr> Route(const std::string& topic, const std::vector<uint32_t>& ids);

  // True when Route would return at least one handler; no round-robin side effect.
  bool Matches(const std::string& topic, const std::vector<uint32_t>& ids) const;

  // Every filter with its subscription identifier, in the order first added.
  std::vector<std::pair<std::string, uint32_t>> Filters() const;

  // A stable MQTT v5 subscription identifier (1..268435455) derived from the
  // filter, so a resumed persistent session routes by the same ids.
  static uint32_t SubscriptionId(const std::string& filter);

 private:
  struct Entry {
    std::string filter;
    ParsedFilter parsed;
    uint32_t id = 0;
    std::vector<HandlerPtr> handlers;
    size_t next = 0;  // round-robin cursor for shared filters
  };
  static bool Hit(const Entry& e, const std::string& topic, const std::vector<uint32_t>& ids);
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
};

// Calls each handler with `m`, counting OK returns in `delivered` and non-OK
// returns or exceptions (caught here, never propagated) in `errors`, logged.
// True when a handler returned kUnavailable: it could not keep the message.
bool Deliver(const std::vector<SubscriptionTable::HandlerPtr>& handlers, const Message& m,
             std::atomic<uint64_t>& delivered, std::atomic<uint64_t>& errors);

}  // namespace concierge::bus_internal
