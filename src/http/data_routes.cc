#include "http/data_routes.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/person_preferences.h"
#include "http/api_support.h"
#include "http/auth.h"
#include "http/resource_json.h"
#include "pipeline/enrol.h"
#include "pipeline/face_search.h"
#include "pipeline/matcher.h"
#include "pipeline/events.h"
#include "pipeline/train.h"
#include "store/audit_log.h"
#include "store/face_collection.h"
#include "store/object_store.h"
#include "store/sighting_store.h"
#include "store/stranger_clusters.h"
#include "vision/face_engine.h"
#include "vision/face_quality.h"
#include "vision/image_io.h"

namespace concierge {

namespace {

using httplib::Request;
using httplib::Response;
using json = nlohmann::json;

constexpr size_t kMaxUploads = 20;                    // photos in one enrol request
constexpr size_t kMaxNameChars = 128;                 // display names
constexpr size_t kMaxFilterChars = 128;               // ?camera=
constexpr int64_t kMaxEpochMs = 253402300799999;      // 9999-12-31T23:59:59.999Z
constexpr auto kEventPoll = std::chrono::seconds(1);  // how often a stream checks for shutdown
constexpr auto kEventKeepAlive = std::chrono::seconds(10);
constexpr size_t kEventBacklog = 256;  // events queued for one slow client before dropping

json Ms(int64_t ms) { return ms > 0 ? json(FormatIsoUtc(ms)) : json(nullptr); }

json QualityJson(const FaceQuality& q, const QualityGate& gate) {
  return {{"size_px", q.size_px},
          {"sharpness", q.sharpness},
          {"yaw", q.yaw_deg},
          {"pitch", q.pitch_deg},
          {"brightness", q.brightness},
          {"score", q.score},
          {"passes", QualityRejection(q, gate).empty()}};
}

json LiveScore(float live) { return live < 0 ? json(nullptr) : json(live); }

// An upload: a photo from the raw body or one multipart field "image".
struct Upload {
  std::string file;
  std::string bytes;
};

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

// The person, unknown, since and until filters sightings and visits share.
struct TimelineFilters {
  std::string person_id;
  bool unknown_only = false;
  int64_t since_ms = 0;
  int64_t until_ms = 0;

  // Copies the filters into a SightingQuery or a VisitQuery.
  template <typename Query>
  void ApplyTo(Query& q) const {
    q.person_id = person_id;
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

// Sets an image answer that no cache keeps, so a logout really ends access.
void SendJpeg(Response& res, std::string bytes) {
  res.set_header("Cache-Control", "private, no-store");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_content(std::move(bytes), "image/jpeg");
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

class DataRoutes {
 public:
  explicit DataRoutes(const ApiContext& ctx) : ctx_(ctx) {}

  void Register(httplib::Server& server, const std::shared_ptr<DataRoutes>& self);

 private:
  using Handler = void (DataRoutes::*)(const Request&, Response&, const Principal&);

  // Wraps a handler: checks the role (401/403 written by the Authenticator).
  httplib::Server::Handler Route(const std::shared_ptr<DataRoutes>& self, Role role,
                                 Handler handler) {
    return [self, role, handler](const Request& req, Response& res) {
      std::optional<Principal> who = self->ctx_.auth->Require(req, res, role);
      if (!who) return;
      ((*self).*handler)(req, res, *who);
    };
  }

  // False (after answering 503) when a part this route needs is not running here.
  static bool Have(const void* part, const char* what, Response& res) {
    if (part) return true;
    SendError(res, Status::Unavailable(std::string(what) + " is not running in this process"));
    return false;
  }

  ImageLimits Limits() const {
    return {ctx_.config->vision.max_image_bytes, ctx_.config->vision.max_image_pixels};
  }
  void Audit(const Principal& who, const std::string& action, const std::string& target,
             const json& detail = json::object()) const {
    if (!ctx_.audit) return;
    Status s = ctx_.audit->Record(who.actor, action, target, detail);
    if (!s.ok()) spdlog::error("api: audit of {} failed: {}", action, s.ToString());
  }

  json PersonRef(const std::optional<std::string>& person_id) const;
  json PersonJson(const Person& p) const;
  json SightingJson(const SightingRecord& s) const;
  // The visit's sightings, newest first.
  Result<std::vector<SightingRecord>> VisitSightings(const VisitRecord& v) const;
  // `members` may carry VisitSightings(v) when the caller has it already.
  Result<json> VisitJson(const VisitRecord& v,
                         const std::vector<SightingRecord>* members = nullptr) const;
  json ClusterJson(const StrangerCluster& c) const;
  std::string EventMessage(const Event& event) const;
  std::optional<std::vector<Upload>> ReadUploads(const Request& req, Response& res) const;
  // The one decoded image of a recognize or search request, or nullopt after an error.
  std::optional<cv::Mat> ReadOneImage(const Request& req, Response& res) const;

  void ListSightings(const Request& req, Response& res, const Principal& who);
  void GetSighting(const Request& req, Response& res, const Principal& who);
  void SightingImage(const Request& req, Response& res, const Principal& who);
  void ListVisits(const Request& req, Response& res, const Principal& who);
  void GetVisit(const Request& req, Response& res, const Principal& who);
  void Events(const Request& req, Response& res, const Principal& who);
  void ListUnknowns(const Request& req, Response& res, const Principal& who);
  void TagUnknown(const Request& req, Response& res, const Principal& who);
  void IgnoreUnknown(const Request& req, Response& res, const Principal& who);
  void ListPeople(const Request& req, Response& res, const Principal& who);
  void CreatePerson(const Request& req, Response& res, const Principal& who);
  void GetPerson(const Request& req, Response& res, const Principal& who);
  void RenamePerson(const Request& req, Response& res, const Principal& who);
  void MergePerson(const Request& req, Response& res, const Principal& who);
  void SetPreferences(const Request& req, Response& res, const Principal& who);
  void EnrolFaces(const Request& req, Response& res, const Principal& who);
  void ListFaces(const Request& req, Response& res, const Principal& who);
  void DeleteFace(const Request& req, Response& res, const Principal& who);
  void FaceImage(const Request& req, Response& res, const Principal& who);
  void ForgetPerson(const Request& req, Response& res, const Principal& who);
  void Recognize(const Request& req, Response& res, const Principal& who);
  void SearchByPhoto(const Request& req, Response& res, const Principal& who);

  const ApiContext ctx_;
  std::atomic<int> streams_{0};  // open /events connections, each holding a server thread
};

void DataRoutes::Register(httplib::Server& server, const std::shared_ptr<DataRoutes>& self) {
  const Role viewer = Role::kViewer, admin = Role::kAdmin;
  // Path segments match anything up to '/', so a malformed id gets 400, not 404.
  server.Get("/api/v1/sightings", Route(self, viewer, &DataRoutes::ListSightings));
  server.Get("/api/v1/sightings/([^/]+)", Route(self, viewer, &DataRoutes::GetSighting));
  server.Get("/api/v1/sightings/([^/]+)/image", Route(self, viewer, &DataRoutes::SightingImage));
  server.Get("/api/v1/visits", Route(self, viewer, &DataRoutes::ListVisits));
  server.Get("/api/v1/visits/([^/]+)", Route(self, viewer, &DataRoutes::GetVisit));
  server.Get("/api/v1/events", Route(self, viewer, &DataRoutes::Events));
  server.Get("/api/v1/unknowns", Route(self, viewer, &DataRoutes::ListUnknowns));
  server.Post("/api/v1/unknowns/([^/]+)/tag", Route(self, admin, &DataRoutes::TagUnknown));
  server.Post("/api/v1/unknowns/([^/]+)/ignore", Route(self, admin, &DataRoutes::IgnoreUnknown));
  server.Get("/api/v1/people", Route(self, viewer, &DataRoutes::ListPeople));
  server.Post("/api/v1/people", Route(self, admin, &DataRoutes::CreatePerson));
  server.Get("/api/v1/people/([^/]+)", Route(self, viewer, &DataRoutes::GetPerson));
  server.Patch("/api/v1/people/([^/]+)", Route(self, admin, &DataRoutes::RenamePerson));
  server.Post("/api/v1/people/([^/]+)/merge", Route(self, admin, &DataRoutes::MergePerson));
  server.Put("/api/v1/people/([^/]+)/preferences",
             Route(self, admin, &DataRoutes::SetPreferences));
  server.Post("/api/v1/people/([^/]+)/faces", Route(self, admin, &DataRoutes::EnrolFaces));
  server.Get("/api/v1/people/([^/]+)/faces", Route(self, viewer, &DataRoutes::ListFaces));
  server.Delete("/api/v1/people/([^/]+)/faces/([^/]+)",
                Route(self, admin, &DataRoutes::DeleteFace));
  server.Get("/api/v1/faces/([^/]+)/image", Route(self, viewer, &DataRoutes::FaceImage));
  server.Post("/api/v1/people/([^/]+)/forget", Route(self, admin, &DataRoutes::ForgetPerson));
  server.Post("/api/v1/recognize", Route(self, viewer, &DataRoutes::Recognize));
  server.Post("/api/v1/search", Route(self, viewer, &DataRoutes::SearchByPhoto));
}

// ---- JSON shapes (docs/openapi.yaml) ----

json DataRoutes::PersonRef(const std::optional<std::string>& person_id) const {
  return PersonRefJson(ctx_, person_id);
}

json DataRoutes::PersonJson(const Person& p) const {
  auto faces = ctx_.faces->ListFaces(p.id);
  return {{"id", p.id},
          {"name", p.display_name},
          {"external_id", p.external_id.empty() ? json(nullptr) : json(p.external_id)},
          {"faces", faces.ok() ? faces->size() : 0},
          {"preferences", ToJson(p.preferences)},
          {"created", Ms(p.created_ms)},
          {"created_ms", p.created_ms}};
}

json DataRoutes::SightingJson(const SightingRecord& s) const {
  return SightingResourceJson(ctx_, s);
}

Result<std::vector<SightingRecord>> DataRoutes::VisitSightings(const VisitRecord& v) const {
  return VisitMembers(ctx_, v);
}

Result<json> DataRoutes::VisitJson(const VisitRecord& v,
                                   const std::vector<SightingRecord>* known_members) const {
  return VisitResourceJson(ctx_, v, known_members);
}

json DataRoutes::ClusterJson(const StrangerCluster& c) const {
  const bool has_best = !c.best_sighting_id.empty();
  return {{"id", c.id},
          {"site", c.site},
          {"sightings", c.sightings},
          {"first", Ms(c.first_ms)},
          {"last", Ms(c.last_ms)},
          {"first_ms", c.first_ms},
          {"last_ms", c.last_ms},
          {"best_sighting_id", has_best ? json(c.best_sighting_id) : json(nullptr)},
          {"image_url", has_best && c.state != ClusterState::kIgnored
                            ? json("/api/v1/sightings/" + c.best_sighting_id + "/image")
                            : json(nullptr)},
          {"state", ToString(c.state)},
          {"person", PersonRef(c.person_id)}};
}

// ---- sightings and visits ----

void DataRoutes::ListSightings(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.sightings, "the sighting store", res)) return;
  auto page = ReadPage(req, res);
  if (!page) return;
  SightingQuery q;
  q.limit = page->limit + 1;  // one more tells whether a next page exists
  if (req.has_param("camera")) {
    q.camera = req.get_param_value("camera");
    if (q.camera.empty() || q.camera.size() > kMaxFilterChars)
      return SendError(res, Status::InvalidArgument("camera must be 1..128 characters"));
  }
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
    items.push_back(SightingJson((*list)[i]));
  if (list->size() > static_cast<size_t>(page->limit)) {
    const auto& last = (*list)[static_cast<size_t>(page->limit) - 1];
    next = std::to_string(last.captured_ms) + ":" + last.id;
  }
  SendJson(res, PageJson(std::move(items), next));
}

void DataRoutes::GetSighting(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.sightings, "the sighting store", res)) return;
  auto id = ReadPathId(req, res);
  if (!id) return;
  auto s = ctx_.sightings->Get(*id);
  if (!s.ok()) return SendError(res, s.status());
  SendJson(res, SightingJson(*s));
}

void DataRoutes::SightingImage(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.sightings, "the sighting store", res) ||
      !Have(ctx_.objects, "the object store", res))
    return;
  auto id = ReadPathId(req, res);
  if (!id) return;
  auto s = ctx_.sightings->Get(*id);
  if (!s.ok()) return SendError(res, s.status());
  if (s->image_key.empty())
    return SendError(res, Status::NotFound("the picture of sighting " + *id + " was deleted"));
  auto bytes = ctx_.objects->Get(s->image_key);
  if (!bytes.ok()) return SendError(res, bytes.status());
  SendJpeg(res, std::move(*bytes));
}

void DataRoutes::ListVisits(const Request& req, Response& res, const Principal&) {
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
    auto visit = VisitJson((*list)[i]);
    if (!visit.ok()) return SendError(res, visit.status());
    items.push_back(std::move(*visit));
  }
  if (list->size() > static_cast<size_t>(page->limit)) {
    const auto& last = (*list)[static_cast<size_t>(page->limit) - 1];
    next = std::to_string(last.last_ms) + ":" + std::to_string(last.id);
  }
  SendJson(res, PageJson(std::move(items), next));
}

void DataRoutes::GetVisit(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.sightings, "the sighting store", res)) return;
  auto id = ReadPathInt(req, res);
  if (!id) return;
  auto visit = ctx_.sightings->GetVisit(*id);
  if (!visit.ok()) return SendError(res, visit.status());
  auto members = VisitSightings(*visit);
  if (!members.ok()) return SendError(res, members.status());
  auto body = VisitJson(*visit, &*members);
  if (!body.ok()) return SendError(res, body.status());
  json sightings = json::array();
  for (const auto& s : *members) sightings.push_back(SightingJson(s));
  (*body)["sightings_list"] = std::move(sightings);
  SendJson(res, *body);
}

// ---- live events ----

std::string DataRoutes::EventMessage(const Event& event) const {
  if (const auto* s = std::get_if<SightingEvent>(&event))
    return "event: sighting\ndata: " + SightingJson(s->sighting).dump() + "\n\n";
  const auto& v = std::get<VisitEvent>(event);
  auto body = VisitJson(v.visit);
  if (!body.ok()) return "";
  return "event: visit\ndata: " + body->dump() + "\n\n";
}

void DataRoutes::Events(const Request&, Response& res, const Principal& who) {
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

// ---- unknowns ----

void DataRoutes::ListUnknowns(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.clusters, "stranger clustering", res)) return;
  auto page = ReadPage(req, res);
  if (!page) return;
  std::optional<ClusterState> state;
  if (req.has_param("state")) {
    auto parsed = ParseClusterState(req.get_param_value("state"));
    if (!parsed.ok())
      return SendError(res, Status::InvalidArgument("state must be open, tagged or ignored"));
    state = *parsed;
  }
  auto list = ctx_.clusters->List(state, page->limit, page->cursor);
  if (!list.ok()) return SendError(res, list.status());
  json items = json::array();
  for (const auto& c : list->items) items.push_back(ClusterJson(c));
  SendJson(res, PageJson(std::move(items), list->next_cursor));
}

void DataRoutes::TagUnknown(const Request& req, Response& res, const Principal& who) {
  if (!Have(ctx_.trainer, "training", res) || !Have(ctx_.clusters, "stranger clustering", res))
    return;
  auto id = ReadPathInt(req, res);
  if (!id) return;
  auto body = ReadJsonObject(req, res);
  if (!body) return;
  PersonChoice choice;
  if (body->contains("person_id")) {
    const json& person = (*body)["person_id"];
    if (!person.is_string())
      return SendError(res, Status::InvalidArgument("person_id must be a string"));
    choice.person_id = person.get<std::string>();
    if (Status s = ValidateStoreId(choice.person_id); !s.ok()) return SendError(res, s);
  } else if (body->contains("name")) {
    const json& name = (*body)["name"];
    if (!name.is_string() || name.get<std::string>().empty() ||
        name.get<std::string>().size() > kMaxNameChars)
      return SendError(res, Status::InvalidArgument("name must be 1..128 characters"));
    choice.display_name = name.get<std::string>();
  } else {
    return SendError(res, Status::InvalidArgument("give person_id (existing) or name (new)"));
  }
  auto tagged = ctx_.trainer->TagCluster(*id, choice, who.actor);
  if (!tagged.ok()) return SendError(res, tagged.status());
  auto cluster = ctx_.clusters->Get(*id);
  if (!cluster.ok()) return SendError(res, cluster.status());
  json out = ClusterJson(*cluster);
  out["person_created"] = tagged->person_created;
  out["faces_indexed"] = tagged->faces_indexed;
  out["faces_skipped"] = tagged->faces_skipped;
  SendJson(res, out);
}

void DataRoutes::IgnoreUnknown(const Request& req, Response& res, const Principal& who) {
  if (!Have(ctx_.trainer, "training", res)) return;
  auto id = ReadPathInt(req, res);
  if (!id) return;
  if (Status s = ctx_.trainer->IgnoreCluster(*id, who.actor); !s.ok()) return SendError(res, s);
  res.status = 204;
}

// ---- people ----

void DataRoutes::ListPeople(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.faces, "the face collection", res)) return;
  auto page = ReadPage(req, res);
  if (!page) return;
  if (!page->cursor.empty() && !ValidateStoreId(page->cursor).ok())
    return SendError(res, Status::InvalidArgument("malformed cursor"));
  auto people = ctx_.faces->ListPersons();  // ordered by id
  if (!people.ok()) return SendError(res, people.status());
  auto it = std::upper_bound(people->begin(), people->end(), page->cursor,
                             [](const std::string& key, const Person& p) { return key < p.id; });
  json items = json::array();
  std::string next;
  for (; it != people->end(); ++it) {
    if (items.size() == static_cast<size_t>(page->limit)) {
      next = std::prev(it)->id;
      break;
    }
    items.push_back(PersonJson(*it));
  }
  SendJson(res, PageJson(std::move(items), next));
}

void DataRoutes::CreatePerson(const Request& req, Response& res, const Principal& who) {
  if (!Have(ctx_.faces, "the face collection", res)) return;
  auto body = ReadJsonObject(req, res);
  if (!body) return;
  const json name = body->value("name", json());
  if (!name.is_string() || name.get<std::string>().empty() ||
      name.get<std::string>().size() > kMaxNameChars)
    return SendError(res, Status::InvalidArgument("name must be 1..128 characters"));
  Person person{"", name.get<std::string>(), "", NowMs()};
  if (body->contains("id")) {
    const json& id = (*body)["id"];
    if (!id.is_string()) return SendError(res, Status::InvalidArgument("id must be a string"));
    person.id = id.get<std::string>();
    if (Status s = ValidateStoreId(person.id); !s.ok()) return SendError(res, s);
    if (Status s = ctx_.faces->AddPerson(person); !s.ok()) return SendError(res, s);
  } else {
    auto id = AddPersonNamed(*ctx_.faces, person.display_name);
    if (!id.ok()) return SendError(res, id.status());
    person.id = *id;
  }
  Audit(who, "person.create", "person:" + person.id);
  auto stored = ctx_.faces->GetPerson(person.id);
  if (!stored.ok()) return SendError(res, stored.status());
  SendJson(res, PersonJson(*stored), 201);
}

void DataRoutes::GetPerson(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.faces, "the face collection", res)) return;
  auto id = ReadPathId(req, res);
  if (!id) return;
  auto person = ctx_.faces->GetPerson(*id);
  if (!person.ok()) return SendError(res, person.status());
  SendJson(res, PersonJson(*person));
}

void DataRoutes::RenamePerson(const Request& req, Response& res, const Principal& who) {
  if (!Have(ctx_.faces, "the face collection", res)) return;
  auto id = ReadPathId(req, res);
  if (!id) return;
  auto body = ReadJsonObject(req, res);
  if (!body) return;
  const json name = body->value("name", json());
  if (!name.is_string() || name.get<std::string>().empty() ||
      name.get<std::string>().size() > kMaxNameChars)
    return SendError(res, Status::InvalidArgument("name must be 1..128 characters"));
  if (Status s = ctx_.faces->RenamePerson(*id, name.get<std::string>()); !s.ok())
    return SendError(res, s);
  Audit(who, "person.rename", "person:" + *id);
  auto person = ctx_.faces->GetPerson(*id);
  if (!person.ok()) return SendError(res, person.status());
  SendJson(res, PersonJson(*person));
}

void DataRoutes::MergePerson(const Request& req, Response& res, const Principal& who) {
  if (!Have(ctx_.faces, "the face collection", res) || !Have(ctx_.trainer, "training", res))
    return;
  auto into = ReadPathId(req, res);
  if (!into) return;
  auto body = ReadJsonObject(req, res);
  if (!body) return;
  const json from_json = body->value("from", json());
  if (!from_json.is_string())
    return SendError(res, Status::InvalidArgument("from must be a person id"));
  const std::string from = from_json.get<std::string>();
  if (Status s = ValidateStoreId(from); !s.ok()) return SendError(res, s);
  auto merged = ctx_.trainer->MergePeople(*into, from, who.actor);
  if (!merged.ok()) return SendError(res, merged.status());
  auto person = ctx_.faces->GetPerson(*into);
  if (!person.ok()) return SendError(res, person.status());
  SendJson(res, PersonJson(*person));
}

void DataRoutes::SetPreferences(const Request& req, Response& res, const Principal& who) {
  if (!Have(ctx_.faces, "the face collection", res)) return;
  auto id = ReadPathId(req, res);
  if (!id) return;
  auto body = ReadJsonObject(req, res);
  if (!body) return;
  auto preferences = PersonPreferencesFromJson(*body);
  if (!preferences.ok()) return SendError(res, preferences.status());
  if (!preferences->host.empty()) {
    if (Status s = ValidateStoreId(preferences->host); !s.ok()) return SendError(res, s);
  }
  if (Status s = ctx_.faces->SetPreferences(*id, *preferences); !s.ok()) return SendError(res, s);
  Audit(who, "person.preferences", "person:" + *id, ToJson(*preferences));
  auto person = ctx_.faces->GetPerson(*id);
  if (!person.ok()) return SendError(res, person.status());
  SendJson(res, PersonJson(*person));
}

std::optional<std::vector<Upload>> DataRoutes::ReadUploads(const Request& req,
                                                           Response& res) const {
  std::vector<Upload> uploads;
  if (req.is_multipart_form_data()) {
    const auto range = req.files.equal_range("image");
    for (auto it = range.first; it != range.second; ++it)
      uploads.push_back({it->second.filename, it->second.content});
    if (uploads.empty()) {
      SendError(res, Status::InvalidArgument("no multipart field named image"));
      return std::nullopt;
    }
  } else {
    const std::string type = req.get_header_value("Content-Type");
    if (type.rfind("image/jpeg", 0) != 0 && type.rfind("image/png", 0) != 0) {
      SendErrorCode(res, 415, "send image/jpeg, image/png or multipart/form-data");
      return std::nullopt;
    }
    uploads.push_back({"body", req.body});
  }
  if (uploads.size() > kMaxUploads) {
    SendErrorCode(res, 413, "at most " + std::to_string(kMaxUploads) + " photos per request");
    return std::nullopt;
  }
  // Size, format and header dimensions first, so a bomb is never decoded.
  const ImageLimits limits = Limits();
  for (const auto& u : uploads) {
    if (static_cast<int64_t>(u.bytes.size()) > limits.max_bytes) {
      SendError(res, Status::TooLarge(u.file + " is over " + std::to_string(limits.max_bytes) +
                                      " bytes"));
      return std::nullopt;
    }
    auto header = PeekImageHeader(u.bytes);
    if (!header.ok() || (header->format != "jpeg" && header->format != "png")) {
      SendErrorCode(res, 415, u.file + " is not a JPEG or PNG image");
      return std::nullopt;
    }
    if (static_cast<int64_t>(header->width) * header->height > limits.max_pixels) {
      SendError(res, Status::TooLarge(u.file + " is over " + std::to_string(limits.max_pixels) +
                                      " pixels"));
      return std::nullopt;
    }
  }
  return uploads;
}

void DataRoutes::EnrolFaces(const Request& req, Response& res, const Principal& who) {
  if (!Have(ctx_.faces, "the face collection", res) ||
      !Have(ctx_.objects, "the object store", res) || !Have(ctx_.engine, "face analysis", res))
    return;
  auto id = ReadPathId(req, res);
  if (!id) return;
  if (auto p = ctx_.faces->GetPerson(*id); !p.ok()) return SendError(res, p.status());
  auto uploads = ReadUploads(req, res);
  if (!uploads) return;
  const EnrolParts parts{ctx_.engine, ctx_.faces, ctx_.objects, ctx_.config->quality};
  json results = json::array();
  int accepted = 0;
  for (const auto& u : *uploads) {
    json result{{"file", u.file}, {"accepted", false}};
    EnrolFindings findings;
    auto image = DecodeImage(u.bytes, Limits());
    Result<EnrolOutcome> outcome =
        image.ok()
            ? EnrolPhoto(parts, {.person_id = *id, .create_person = false}, *image, &findings)
            : Result<EnrolOutcome>(image.status());
    if (findings.quality) result["quality"] = QualityJson(*findings.quality, parts.gate);
    result["faces_found"] = findings.faces_found;
    if (outcome.ok()) {
      ++accepted;
      result["accepted"] = true;
      result["face_id"] = outcome->face_id;
      result["reasons"] = json::array();
    } else {
      const Status& s = outcome.status();
      // Storage trouble is the server's, not the photo's.
      if (s.code() == Status::Code::kIoError || s.code() == Status::Code::kInternal ||
          s.code() == Status::Code::kUnavailable)
        return SendError(res, s);
      result["reasons"] = json::array({s.message()});
    }
    results.push_back(std::move(result));
  }
  json resolved = json::array();
  if (accepted > 0) {
    Audit(who, "face.enrol", "person:" + *id, {{"faces", accepted}});
    // Open "who is this?" questions that were this person are answered now.
    if (ctx_.trainer) {
      auto strangers = ctx_.trainer->ResolveOpenStrangers(*id, who.actor + " enrolled " + *id);
      if (!strangers.ok()) return SendError(res, strangers.status());
      resolved = *strangers;
    }
  }
  SendJson(res, {{"results", std::move(results)}, {"strangers_resolved", std::move(resolved)}});
}

void DataRoutes::ListFaces(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.faces, "the face collection", res)) return;
  auto id = ReadPathId(req, res);
  if (!id) return;
  auto page = ReadPage(req, res);
  if (!page) return;
  int64_t after = 0;
  if (!page->cursor.empty()) {
    auto parsed = ParseBoundedInt(page->cursor, 1, INT64_MAX);
    if (!parsed) return SendError(res, Status::InvalidArgument("malformed cursor"));
    after = *parsed;
  }
  auto faces = ctx_.faces->ListFaces(*id);  // ordered by id
  if (!faces.ok()) return SendError(res, faces.status());
  json items = json::array();
  std::string next;
  for (const auto& f : *faces) {
    if (f.id <= after) continue;
    if (items.size() == static_cast<size_t>(page->limit)) {
      next = items.back()["id"].dump();
      break;
    }
    items.push_back({{"id", f.id},
                     {"quality", f.quality},
                     {"origin", ToString(f.origin)},
                     {"created", Ms(f.created_ms)},
                     {"created_ms", f.created_ms},
                     {"image_url", f.image_key.empty() ? json(nullptr)
                                                       : json("/api/v1/faces/" +
                                                              std::to_string(f.id) + "/image")}});
  }
  SendJson(res, PageJson(std::move(items), next));
}

void DataRoutes::DeleteFace(const Request& req, Response& res, const Principal& who) {
  if (!Have(ctx_.faces, "the face collection", res) || !Have(ctx_.objects, "the object store", res))
    return;
  auto person = ReadPathId(req, res, 1);
  if (!person) return;
  auto face_id = ReadPathInt(req, res, 2);
  if (!face_id) return;
  auto faces = ctx_.faces->ListFaces(*person);
  if (!faces.ok()) return SendError(res, faces.status());
  auto face = std::find_if(faces->begin(), faces->end(),
                           [&](const FaceRecord& f) { return f.id == *face_id; });
  if (face == faces->end())
    return SendError(
        res, Status::NotFound("person " + *person + " has no face " + std::to_string(*face_id)));
  if (Status s = ctx_.faces->DeleteFace(*face_id); !s.ok()) return SendError(res, s);
  if (!face->image_key.empty()) {
    if (Status s = ctx_.objects->Delete(face->image_key); !s.ok())
      spdlog::warn("api: face {} deleted but its picture stays: {}", *face_id, s.ToString());
  }
  Audit(who, "face.delete", "person:" + *person, {{"face", *face_id}});
  res.status = 204;
}

void DataRoutes::FaceImage(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.faces, "the face collection", res) || !Have(ctx_.objects, "the object store", res))
    return;
  auto face_id = ReadPathInt(req, res);
  if (!face_id) return;
  auto key = FindFaceImageKey(*ctx_.faces, *face_id);
  if (!key.ok()) return SendError(res, key.status());
  auto bytes = ctx_.objects->Get(*key);
  if (!bytes.ok()) return SendError(res, bytes.status());
  SendJpeg(res, std::move(*bytes));
}

void DataRoutes::ForgetPerson(const Request& req, Response& res, const Principal& who) {
  if (!Have(ctx_.trainer, "training", res)) return;
  auto id = ReadPathId(req, res);
  if (!id) return;
  auto forgotten = ctx_.trainer->ForgetPerson(*id, who.actor);
  if (!forgotten.ok()) return SendError(res, forgotten.status());
  SendJson(res, {{"faces", forgotten->faces},
                 {"sightings", forgotten->sightings},
                 {"images", forgotten->images}});
}

// ---- recognition ----

std::optional<cv::Mat> DataRoutes::ReadOneImage(const Request& req, Response& res) const {
  auto uploads = ReadUploads(req, res);
  if (!uploads) return std::nullopt;
  if (uploads->size() != 1) {
    SendError(res, Status::InvalidArgument("send exactly one image"));
    return std::nullopt;
  }
  auto image = DecodeImage(uploads->front().bytes, Limits());
  if (!image.ok()) {
    SendError(res, image.status());
    return std::nullopt;
  }
  return std::move(*image);
}

void DataRoutes::Recognize(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.matcher, "the face collection", res) || !Have(ctx_.engine, "face analysis", res))
    return;
  auto image = ReadOneImage(req, res);
  if (!image) return;
  auto faces = ctx_.engine->Analyze(*image, {.embed = EmbedWith::kPrimary, .anti_spoof = true});
  if (!faces.ok()) return SendError(res, faces.status());
  json out = json::array();
  for (auto& f : *faces) {
    json face = {{"box",
                  {{"x", std::lround(f.box.x)},
                   {"y", std::lround(f.box.y)},
                   {"w", std::lround(f.box.w)},
                   {"h", std::lround(f.box.h)}}},
                 {"human", f.human},
                 {"human_score", f.human_score},
                 {"person", nullptr},
                 {"similarity", nullptr},
                 {"quality", QualityJson(f.quality, ctx_.config->quality)},
                 {"live_score", LiveScore(f.live_score)}};
    if (f.human) {
      std::vector<FaceView> views{{*image, f}};
      auto decision = ctx_.matcher->Decide(*ctx_.engine, views);
      if (!decision.ok()) return SendError(res, decision.status());
      // An unknown face names nobody, not even the runner-up.
      if (decision->person_id) face["person"] = PersonRef(*decision->person_id);
      if (decision->similarity) face["similarity"] = *decision->similarity;
    }
    out.push_back(std::move(face));
  }
  SendJson(res, {{"faces", std::move(out)}});
}

void DataRoutes::SearchByPhoto(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.matcher, "the face collection", res) || !Have(ctx_.engine, "face analysis", res) ||
      !Have(ctx_.sightings, "the sighting store", res))
    return;
  auto image = ReadOneImage(req, res);
  if (!image) return;
  auto probe = SearchProbe(*ctx_.engine, *image);
  if (!probe.ok()) return SendError(res, probe.status());
  auto hits = FindVisitsOfFace(*ctx_.sightings, *probe,
                               ctx_.matcher->calibration().same_person_threshold, 0, 0);
  if (!hits.ok()) return SendError(res, hits.status());
  json items = json::array();
  for (const VisitHit& hit : *hits) {
    auto visit = VisitHitJson(ctx_, hit);
    if (!visit.ok()) return SendError(res, visit.status());
    items.push_back(std::move(*visit));
  }
  SendJson(res, {{"items", std::move(items)}});
}

}  // namespace

void RegisterDataRoutes(httplib::Server& server, const ApiContext& ctx) {
  auto routes = std::make_shared<DataRoutes>(ctx);
  routes->Register(server, routes);
}

}  // namespace concierge
