#include "http/presence_routes.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "core/clock.h"
#include "http/api_support.h"
#include "http/auth.h"
#include "http/resource_json.h"
#include "http/route_support.h"
#include "notify/presence.h"
#include "pipeline/person_export.h"
#include "store/audit_log.h"
#include "store/face_collection.h"
#include "store/sighting_store.h"

namespace concierge {

namespace {

using httplib::Request;
using httplib::Response;
using json = nlohmann::json;

constexpr int kMaxCsvDays = 366;

// The local day ?<name>= names (default: today), or nullopt after a 400.
std::optional<std::pair<std::string, std::pair<int64_t, int64_t>>> ReadDay(
    const Request& req, Response& res, const char* name) {
  const std::string date = req.has_param(name) ? req.get_param_value(name) : LocalDate(NowMs());
  auto bounds = LocalDayBounds(date);
  if (!bounds.ok()) {
    SendError(res, Status::InvalidArgument(std::string(name) + ": " + bounds.status().message()));
    return std::nullopt;
  }
  return std::make_pair(date, *bounds);
}

// One CSV field (RFC 4180): quoted when it holds a comma, quote or line break.
// A leading = + - @ is prefixed with ' so a spreadsheet never runs a name as a formula.
std::string CsvField(const std::string& value) {
  std::string text;
  if (!value.empty() && (value[0] == '=' || value[0] == '+' || value[0] == '-' || value[0] == '@'))
    text.push_back('\'');
  text.append(value);
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out(1, '"');
  for (char c : text) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

class PresenceRoutes {
 public:
  explicit PresenceRoutes(const ApiContext& ctx) : ctx_(ctx) {}

  void Register(httplib::Server& server, const std::shared_ptr<PresenceRoutes>& self) {
    server.Get("/api/v1/presence", Route(self, ctx_, Role::kViewer, &PresenceRoutes::Presence));
    server.Get("/api/v1/digest", Route(self, ctx_, Role::kViewer, &PresenceRoutes::Digest));
    server.Get("/api/v1/visits.csv", Route(self, ctx_, Role::kViewer, &PresenceRoutes::VisitsCsv));
    server.Get("/api/v1/people/([^/]+)/export",
               Route(self, ctx_, Role::kAdmin, &PresenceRoutes::ExportPerson));
  }

 private:
  // The report of ?date=, or nullopt after answering an error.
  std::optional<DayReport> Report(const Request& req, Response& res) {
    if (!Have(ctx_.sightings, "the sighting store", res)) return std::nullopt;
    auto day = ReadDay(req, res, "date");
    if (!day) return std::nullopt;
    auto office = ParseDailyWindow(ctx_.config->notify.office_hours);
    if (!office.ok()) {
      SendError(res, office.status());
      return std::nullopt;
    }
    auto report = BuildDayReport(*ctx_.sightings, day->first, day->second.first,
                                 day->second.second, *office);
    if (!report.ok()) {
      SendError(res, report.status());
      return std::nullopt;
    }
    return std::move(*report);
  }

  Result<json> Visits(const std::vector<VisitRecord>& visits) const {
    json out = json::array();
    for (const VisitRecord& v : visits) {
      ASSIGN_OR_RETURN(json visit, VisitResourceJson(ctx_, v));
      out.push_back(std::move(visit));
    }
    return out;
  }

  json People(const DayReport& report) const {
    json people = json::array();
    for (const PresentPerson& p : report.people)
      people.push_back({{"person", PersonRefJson(ctx_, p.person_id)},
                        {"first_seen", IsoOrNull(p.first_ms)},
                        {"last_seen", IsoOrNull(p.last_ms)},
                        {"first_seen_ms", p.first_ms},
                        {"last_seen_ms", p.last_ms},
                        {"cameras", p.cameras}});
    return people;
  }

  // The day's report and its JSON (people under `people_key`); nullopt once an
  // error reply is sent. Presence and the digest share this shape.
  std::optional<std::pair<DayReport, json>> ReportJson(const Request& req, Response& res,
                                                       const char* people_key) {
    auto report = Report(req, res);
    if (!report) return std::nullopt;
    auto strangers = Visits(report->strangers);
    auto after_hours = strangers.ok() ? Visits(report->after_hours) : strangers;
    if (!after_hours.ok()) {
      SendError(res, after_hours.status());
      return std::nullopt;
    }
    json body = {{"date", report->date},
                 {people_key, People(*report)},
                 {"strangers", std::move(*strangers)},
                 {"after_hours", std::move(*after_hours)}};
    return std::make_pair(std::move(*report), std::move(body));
  }

  void Presence(const Request& req, Response& res, const Principal&) {
    if (auto out = ReportJson(req, res, "people")) SendJson(res, out->second);
  }

  void Digest(const Request& req, Response& res, const Principal&) {
    auto out = ReportJson(req, res, "arrivals");
    if (!out) return;
    out->second["text"] = DigestText(out->first, ctx_.faces);
    SendJson(res, out->second);
  }

  void VisitsCsv(const Request& req, Response& res, const Principal&) {
    if (!Have(ctx_.sightings, "the sighting store", res)) return;
    auto from = ReadDay(req, res, "from");
    if (!from) return;
    auto to = ReadDay(req, res, "to");
    if (!to) return;
    if (to->second.first < from->second.first)
      return SendError(res, Status::InvalidArgument("to must not be before from"));
    if (to->second.first - from->second.first > int64_t{kMaxCsvDays} * 86400000)
      return SendError(res, Status::InvalidArgument("at most 366 days per export"));
    VisitQuery q{.since_ms = from->second.first, .until_ms = to->second.second, .limit = 0};
    if (req.has_param("person")) {
      q.person_id = req.get_param_value("person");
      if (Status s = ValidateStoreId(q.person_id); !s.ok()) return SendError(res, s);
    }
    auto visits = ctx_.sightings->ListVisits(q);
    if (!visits.ok()) return SendError(res, visits.status());
    std::string csv = "visit_id,person_id,person_name,started,last,sightings,camera\r\n";
    for (const VisitRecord& v : *visits) {
      auto visit = VisitResourceJson(ctx_, v);
      if (!visit.ok()) return SendError(res, visit.status());
      const json& person = (*visit)["person"];
      const json& camera = (*visit)["camera"];
      csv += std::to_string(v.id) + "," +
             CsvField(person.is_null() ? "" : person["id"].get<std::string>()) + "," +
             CsvField(person.is_null() ? "" : person["name"].get<std::string>()) + "," +
             FormatIsoUtc(v.started_ms) + "," + FormatIsoUtc(v.last_ms) + "," +
             std::to_string(v.sightings) + "," +
             CsvField(camera.is_null() ? "" : camera.get<std::string>()) + "\r\n";
    }
    res.set_header("Content-Disposition", "attachment; filename=\"visits-" + from->first + "-to-" +
                                              to->first + ".csv\"");
    res.set_header("Cache-Control", "private, no-store");
    res.set_content(std::move(csv), "text/csv; charset=utf-8");
  }

  void ExportPerson(const Request& req, Response& res, const Principal& who) {
    if (!Have(ctx_.faces, "the face collection", res) ||
        !Have(ctx_.sightings, "the sighting store", res) ||
        !Have(ctx_.objects, "the object store", res))
      return;
    auto id = ReadPathId(req, res);
    if (!id) return;
    std::string path =
        (std::filesystem::temp_directory_path() / "concierge-export-XXXXXX").string();
    const int fd = mkstemp(path.data());
    if (fd < 0) return SendError(res, Status::IoError("cannot create a temporary file"));
    close(fd);
    Status s = concierge::ExportPerson({ctx_.faces, ctx_.sightings, ctx_.objects, ctx_.audit},
                                       *id, path);
    std::string bytes;
    if (s.ok()) {
      std::ifstream in(path, std::ios::binary);
      std::ostringstream buffer;
      buffer << in.rdbuf();
      bytes = buffer.str();
      if (!in) s = Status::IoError("cannot read the export back");
    }
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
    if (!s.ok()) return SendError(res, s);
    if (ctx_.audit) {
      if (Status a = ctx_.audit->Record(who.actor, "person.export", "person:" + *id); !a.ok())
        spdlog::error("api: audit of person.export failed: {}", a.ToString());
    }
    res.set_header("Content-Disposition", "attachment; filename=\"person-" + *id + ".zip\"");
    res.set_header("Cache-Control", "private, no-store");
    res.set_content(std::move(bytes), "application/zip");
  }

  const ApiContext ctx_;
};

}  // namespace

void RegisterPresenceRoutes(httplib::Server& server, const ApiContext& ctx) {
  auto routes = std::make_shared<PresenceRoutes>(ctx);
  routes->Register(server, routes);
}

}  // namespace concierge
