#include "bus/subscription_table.h"

#include <algorithm>

#include <exception>

#include <mosquitto.h>
#include <spdlog/spdlog.h>

namespace concierge::bus_internal {

namespace {
constexpr std::string_view kSharePrefix = "$share/";
constexpr uint32_t kMaxSubscriptionId = 268'435'455;  // largest MQTT variable byte integer
}  // namespace

Result<ParsedFilter> ParseFilter(const std::string& filter) {
  ParsedFilter parsed;
  parsed.match = filter;
  if (filter.starts_with(kSharePrefix)) {
    const size_t slash = filter.find('/', kSharePrefix.size());
    const std::string group = filter.substr(kSharePrefix.size(), slash - kSharePrefix.size());
    if (slash == std::string::npos || group.empty() ||
        group.find_first_of("+#") != std::string::npos)
      return Status::InvalidArgument("bad shared subscription '" + filter +
                                     "': want $share/<group>/<filter>");
    parsed.match = filter.substr(slash + 1);
    parsed.shared = true;
  }
  if (parsed.match.empty() || mosquitto_sub_topic_check(parsed.match.c_str()) != MOSQ_ERR_SUCCESS ||
      mosquitto_validate_utf8(parsed.match.data(), static_cast<int>(parsed.match.size())) !=
          MOSQ_ERR_SUCCESS)
    return Status::InvalidArgument("bad topic filter '" + filter + "'");
  return parsed;
}

Status CheckPublishable(const Message& m) {
  if (m.qos < 0 || m.qos > 2)
    return Status::InvalidArgument("qos must be 0, 1 or 2, got " + std::to_string(m.qos));
  if (m.topic.empty() || m.topic.size() > 65535 ||
      mosquitto_pub_topic_check2(m.topic.data(), m.topic.size()) != MOSQ_ERR_SUCCESS ||
      mosquitto_validate_utf8(m.topic.data(), static_cast<int>(m.topic.size())) !=
          MOSQ_ERR_SUCCESS)
    return Status::InvalidArgument("bad publish topic '" + m.topic + "'");
  return Status::Ok();
}

uint32_t SubscriptionTable::SubscriptionId(const std::string& filter) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (unsigned char c : filter) h = (h ^ c) * 16777619u;
  return h % kMaxSubscriptionId + 1;
}

Result<bool> SubscriptionTable::Add(const std::string& filter, const ParsedFilter& parsed,
                                    Handler handler) {
  auto ptr = std::make_shared<const Handler>(std::move(handler));
  const uint32_t id = SubscriptionId(filter);
  std::lock_guard lock(mu_);
  for (auto& e : entries_) {
    if (e.filter == filter) {
      e.handlers.push_back(std::move(ptr));
      return false;
    }
    if (e.id == id)
      return Status::AlreadyExists("filters '" + e.filter + "' and '" + filter +
                                   "' hash to one subscription id; rename one");
  }
  entries_.push_back(Entry{filter, parsed, id, {std::move(ptr)}, 0});
  return true;
}

bool SubscriptionTable::Hit(const Entry& e, const std::string& topic,
                            const std::vector<uint32_t>& ids) {
  return ids.empty() ? TopicMatches(e.parsed.match, topic)
                     : std::find(ids.begin(), ids.end(), e.id) != ids.end();
}

bool SubscriptionTable::Matches(const std::string& topic, const std::vector<uint32_t>& ids) const {
  std::lock_guard lock(mu_);
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const Entry& e) { return Hit(e, topic, ids); });
}

std::vector<SubscriptionTable::HandlerPtr> SubscriptionTable::Route(
    const std::string& topic, const std::vector<uint32_t>& ids) {
  std::vector<HandlerPtr> out;
  std::lock_guard lock(mu_);
  for (auto& e : entries_) {
    if (!Hit(e, topic, ids)) continue;
    if (e.parsed.shared) {
      out.push_back(e.handlers[e.next % e.handlers.size()]);
      ++e.next;
    } else {
      out.insert(out.end(), e.handlers.begin(), e.handlers.end());
    }
  }
  return out;
}

std::vector<std::pair<std::string, uint32_t>> SubscriptionTable::Filters() const {
  std::vector<std::pair<std::string, uint32_t>> out;
  std::lock_guard lock(mu_);
  for (const auto& e : entries_) out.emplace_back(e.filter, e.id);
  return out;
}

bool Deliver(const std::vector<SubscriptionTable::HandlerPtr>& handlers, const Message& m,
             std::atomic<uint64_t>& delivered, std::atomic<uint64_t>& errors) {
  bool refused = false;
  for (const auto& handler : handlers) {
    Status st;
    try {
      st = (*handler)(m);
    } catch (const std::exception& e) {
      st = Status::Internal(std::string("handler threw: ") + e.what());
    } catch (...) {
      st = Status::Internal("handler threw a non-standard exception");
    }
    if (st.ok()) {
      ++delivered;
    } else {
      ++errors;
      refused = refused || st.code() == Status::Code::kUnavailable;
      spdlog::error("bus: handler for '{}' failed: {}", m.topic, st.ToString());
    }
  }
  return refused;
}

}  // namespace concierge::bus_internal
