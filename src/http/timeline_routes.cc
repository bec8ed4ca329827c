// Sightings and visits with their pictures, and the live event stream (SSE).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <httplib.h>

#include "http/api_support.h"
#include "http/data_routes.h"
#include "http/resource_json.h"
#include "http/route_support.h"
#include "pipeline/events.h"
#include "store/face_collection.h"
#include "store/object_store.h"
#include "store/sighting_store.h"

namespace concierge {

namespace {

using httplib::Request;
using httplib::Response;
using json = nlohmann::json;

constexpr size_t kMaxFilterChars = 128;               // ?camera=
constexpr int64_t kMaxEpochMs = 253402300799999;      // 9999-12-31T23:59:59.999Z
constexpr auto kEventPoll = std::chrono::seconds(1);  // how often a stream checks for shutdown
constexpr auto kEventKeepAlive = std::chrono::seconds(10);
constexpr size_t kEventBacklog = 256;  // events queued for one slow client before dropping

// A time filter: epoch milliseconds or ISO-8601 UTC ("2026-11-24T08:00:00Z",
// fraction optional).
std::optional<int64_t> ParseTime(const std::string& text) {
  if (auto ms = ParseBoundedInt(text, 0, kMaxEpochMs)) return ms;
  std::tm tm{};
  int millis = 0, consumed = 0;
  if (text.size() > 40 ||
      std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6)
    return std::nullopt;
  std::string rest = text.substr(static_cast<size_t>(consumed));
  if (!rest.empty() && rest.front() == '.') {
    size_t digits = 1;
    while (digits < rest.size() && std::isdigit(static_cast<unsigned char>(rest[digits]))) ++digits;
    if (digits == 1 || digits > 4) return std::nullopt;
    std::string frac = rest.substr(1, digits - 1);
    frac.resize(3, '0');
    millis = std::stoi(frac);
    rest = rest.substr(digits);
  }
  if (rest != "Z" || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
      tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 || tm.tm_year < 1970)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + millis;
}

// "<ms>:<rest>" from a decoded cursor; nullopt when malformed.
std::optional<std::pair<int64_t, std::string>> SplitPosition(const std::string& position) {
  const size_t colon = position.find(':');
  if (colon == std::string::npos) return std::nullopt;
  auto ms = ParseBoundedInt(std::string_view(position).substr(0, colon), 0, kMaxEpochMs);
  if (!ms) return std::nullopt;
  return std::make_pair(*ms, position.substr(colon + 1));
}

// The person, camera, unknown, since and until filters sightings and visits share.
struct TimelineFilters {
  std::string person_id;
  std::string camera;
  bool unknown_only = false;
  int64_t since_ms = 0;
  int64_t until_ms = 0;

  // Copies the filters into a SightingQuery or a VisitQuery.
  template <typename Query>
  void ApplyTo(Query& q) const {
    q.person_id = person_id;
    q.camera = camera;
    q.unknown_only = unknown_only;
    q.since_ms = since_ms;
    q.until_ms = until_ms;
  }
};

// Reads the shared filters; on a bad one answers 400 and returns nullopt.
std::optional<TimelineFilters> ReadTimelineFilters(const Request& req, Response& res) {
  TimelineFilters f;
  if (req.has_param("person")) {
    f.person_id = req.get_param_value("person");
    if (Status s = ValidateStoreId(f.person_id); !s.ok()) {
      SendError(res, s);
      return std::nullopt;
    }
  }
  if (req.has_param("camera")) {
    f.camera = req.get_param_value("camera");
    if (f.camera.empty() || f.camera.size() > kMaxFilterChars) {
      SendError(res, Status::InvalidArgument("camera must be 1..128 characters"));
      return std::nullopt;
    }
  }
  if (req.has_param("unknown")) {
    const std::string unknown = req.get_param_value("unknown");
    if (unknown != "true" && unknown != "false") {
      SendError(res, Status::InvalidArgument("unknown must be true or false"));
      return std::nullopt;
    }
    f.unknown_only = unknown == "true";
  }
  for (const auto& [name, field] : {std::pair{"since", &f.since_ms}, {"until", &f.until_ms}}) {
    if (!req.has_param(name)) continue;
    auto ms = ParseTime(req.get_param_value(name));
    if (!ms) {
      SendError(res,
                Status::InvalidArgument(std::string(name) + " must be epoch ms or ISO-8601 UTC"));
      return std::nullopt;
    }
    *field = *ms;
  }
  return f;
}

// One client's queue of formatted SSE messages, filled by the event thread.
class EventQueue {
 public:
  void Push(std::string message) {
    {
      std::lock_guard lock(mu_);
      if (queue_.size() >= kEventBacklog) return;  // a stalled client misses events, never blocks
      queue_.push_back(std::move(message));
    }
    cv_.notify_one();
  }
  // Waits up to `wait` for a message.
  std::optional<std::string> Pop(std::chrono::milliseconds wait) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, wait, [&] { return !queue_.empty(); })) return std::nullopt;
    std::string message = std::move(queue_.front());
    queue_.pop_front();
    return message;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
};

class TimelineRoutes {
 public:
  explicit TimelineRoutes(const ApiContext& ctx) : ctx_(ctx) {}

  void Register(httplib::Server& server, const std::shared_ptr<TimelineRoutes>& self) {
    const Role viewer = Role::kViewer;
    // Path segments match anything up to '/', so a malformed id gets 400, not 404.
    server.Get("/api/v1/sightings", Route(self, ctx_, viewer, &TimelineRoutes::ListSightings));
    server.Get("/api/v1/sightings/([^/]+)",
               Route(self, ctx_, viewer, &TimelineRoutes::GetSighting));
    server.Get("/api/v1/sightings/([^/]+)/image",
               Route(self, ctx_, viewer, &TimelineRoutes::SightingImage));
    server.Get("/api/v1/visits", Route(self, ctx_, viewer, &TimelineRoutes::ListVisits));
    server.Get("/api/v1/visits/([^/]+)", Route(self, ctx_, viewer, &TimelineRoutes::GetVisit));
    server.Get("/api/v1/events", Route(self, ctx_, viewer, &TimelineRoutes::Events));
  }

 private:
  void ListSightings(const Request& req, Response& res, const Principal& who);
  void GetSighting(const Request& req, Response& res, const Principal& who);
  void SightingImage(const Request& req, Response& res, const Principal& who);
  void ListVisits(const Request& req, Response& res, const Principal& who);
  void GetVisit(const Request& req, Response& res, const Principal& who);
  void Events(const Request& req, Response& res, const Principal& who);

  std::string EventMessage(const Event& event) const;

  const ApiContext ctx_;
  std::atomic<int> streams_{0};  // open /events connections, each holding a server thread
};

void TimelineRoutes::ListSightings(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.sightings, "the sighting store", res)) return;
  auto page = ReadPage(req, res);
  if (!page) return;
  SightingQuery q;
  q.limit = page->limit + 1;  // one more tells whether a next page exists
  auto filters = ReadTimelineFilters(req, res);
  if (!filters) return;
  filters->ApplyTo(q);
  if (!page->cursor.empty()) {
    auto position = SplitPosition(page->cursor);
    if (!position || !ValidateStoreId(position->second).ok())
      return SendError(res, Status::InvalidArgument("malformed cursor"));
    q.after = SightingCursor{position->first, position->second};
  }
  auto list = ctx_.sightings->List(q);
  if (!list.ok()) return SendError(res, list.status());
  json items = json::array();
  std::string next;
  for (size_t i = 0; i < list->size() && i < static_cast<size_t>(page->limit); ++i)
    items.push_back(SightingResourceJson(ctx_, (*list)[i]));
  if (list->size() > static_cast<size_t>(page->limit)) {
    const auto& last = (*list)[static_cast<size_t>(page->limit) - 1];
    next = std::to_string(last.captured_ms) + ":" + last.id;
  }
  SendJson(res, PageJson(std::move(items), next));
}

void TimelineRoutes::GetSighting(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.sightings, "the sighting store", res)) return;
  auto id = ReadPathId(req, res);
  if (!id) return;
  auto s = ctx_.sightings->Get(*id);
  if (!s.ok()) return SendError(res, s.status());
  SendJson(res, SightingResourceJson(ctx_, *s));
}

void TimelineRoutes::SightingImage(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.sightings, "the sighting store", res) ||
      !Have(ctx_.objects, "the object store", res))
    return;
  auto id = ReadPathId(req, res);
  if (!id) return;
  auto s = ctx_.sightings->Get(*id);
  if (!s.ok()) return SendError(res, s.status());
  if (s->image_key.empty())
    return SendError(res, NoPicture(ctx_, "the picture of sighting " + *id + " was deleted"));
  auto bytes = ctx_.objects->Get(s->image_key);
  if (!bytes.ok()) return SendError(res, bytes.status());
  SendJpeg(res, std::move(*bytes));
}

void TimelineRoutes::ListVisits(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.sightings, "the sighting store", res)) return;
  auto page = ReadPage(req, res);
  if (!page) return;
  VisitQuery q;
  q.limit = page->limit + 1;
  auto filters = ReadTimelineFilters(req, res);
  if (!filters) return;
  filters->ApplyTo(q);
  if (!page->cursor.empty()) {
    auto position = SplitPosition(page->cursor);
    auto id = position ? ParseBoundedInt(position->second, 1, INT64_MAX) : std::nullopt;
    if (!id) return SendError(res, Status::InvalidArgument("malformed cursor"));
    q.after = VisitCursor{position->first, *id};
  }
  auto list = ctx_.sightings->ListVisits(q);
  if (!list.ok()) return SendError(res, list.status());
  json items = json::array();
  std::string next;
  for (size_t i = 0; i < list->size() && i < static_cast<size_t>(page->limit); ++i) {
    auto visit = VisitResourceJson(ctx_, (*list)[i]);
    if (!visit.ok()) return SendError(res, visit.status());
    items.push_back(std::move(*visit));
  }
  if (list->size() > static_cast<size_t>(page->limit)) {
    const auto& last = (*list)[static_cast<size_t>(page->limit) - 1];
    next = std::to_string(last.last_ms) + ":" + std::to_string(last.id);
  }
  SendJson(res, PageJson(std::move(items), next));
}

void TimelineRoutes::GetVisit(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.sightings, "the sighting store", res)) return;
  auto id = ReadPathInt(req, res);
  if (!id) return;
  auto visit = ctx_.sightings->GetVisit(*id);
  if (!visit.ok()) return SendError(res, visit.status());
  auto members = VisitMembers(ctx_, *visit);
  if (!members.ok()) return SendError(res, members.status());
  auto body = VisitResourceJson(ctx_, *visit, &*members);
  if (!body.ok()) return SendError(res, body.status());
  json sightings = json::array();
  for (const auto& s : *members) sightings.push_back(SightingResourceJson(ctx_, s));
  (*body)["sightings_list"] = std::move(sightings);
  SendJson(res, *body);
}

std::string TimelineRoutes::EventMessage(const Event& event) const {
  if (const auto* s = std::get_if<SightingEvent>(&event))
    return "event: sighting\ndata: " + SightingResourceJson(ctx_, s->sighting).dump() + "\n\n";
  const auto& v = std::get<VisitEvent>(event);
  auto body = VisitResourceJson(ctx_, v.visit);
  if (!body.ok()) return "";
  return "event: visit\ndata: " + body->dump() + "\n\n";
}

void TimelineRoutes::Events(const Request&, Response& res, const Principal& who) {
  if (!Have(ctx_.events, "the event stream", res)) return;
  // Each stream holds one server thread for its whole life: keep half for requests.
  const int max_streams = std::max(1, ctx_.config->http.threads / 2);
  if (streams_.fetch_add(1) >= max_streams) {
    streams_.fetch_sub(1);
    return SendError(res, Status::Unavailable("too many open event streams; try again later"));
  }
  auto queue = std::make_shared<EventQueue>();
  EventStream* events = ctx_.events;
  const int id = events->Subscribe([this, queue](const Event& e) {
    std::string message = EventMessage(e);
    if (!message.empty()) queue->Push(std::move(message));
  });
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Accel-Buffering", "no");
  auto last_write = std::make_shared<std::chrono::steady_clock::time_point>();
  auto last_check = std::make_shared<std::chrono::steady_clock::time_point>(
      std::chrono::steady_clock::now());
  const Authenticator* auth = ctx_.auth;
  res.set_chunked_content_provider(
      "text/event-stream",
      [queue, last_write, last_check, auth, who](size_t, httplib::DataSink& sink) {
        // Returning true without data polls again; the server checks for
        // shutdown between calls, so waits stay short.
        std::optional<std::string> message = queue->Pop(kEventPoll);
        const auto now = std::chrono::steady_clock::now();
        // A revoked token or an ended session ends the stream, not just new requests.
        if (now - *last_check >= kEventPoll) {
          *last_check = now;
          const Result<bool> valid = auth->StillValid(who);
          if (valid.ok() && !*valid) {
            spdlog::info("api: event stream of {} ended: signed out or revoked", who.actor);
            sink.done();
            return true;
          }
        }
        if (!message) {
          if (now - *last_write < kEventKeepAlive) return true;
          message = ": keep-alive\n\n";  // also finds out when the client left
        }
        *last_write = now;
        return sink.write(message->data(), message->size());
      },
      [this, events, id](bool) {
        events->Unsubscribe(id);
        streams_.fetch_sub(1);
      });
}

}  // namespace

void RegisterTimelineRoutes(httplib::Server& server, const ApiContext& ctx) {
  auto routes = std::make_shared<TimelineRoutes>(ctx);
  routes->Register(server, routes);
}

}  // namespace concierge
