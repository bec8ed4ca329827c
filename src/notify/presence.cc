#include "notify/presence.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>

#include "notify/slack_messages.h"

namespace concierge {

namespace {

int64_t LocalMidnightMs(int year, int month, int day) {
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_isdst = -1;
  return static_cast<int64_t>(std::mktime(&tm)) * 1000;
}

}  // namespace

Result<std::pair<int64_t, int64_t>> LocalDayBounds(const std::string& date) {
  int y = 0, m = 0, d = 0, consumed = 0;
  const Status bad = Status::InvalidArgument("date must be a calendar date YYYY-MM-DD");
  if (date.size() != 10 || date[4] != '-' || date[7] != '-' ||
      std::sscanf(date.c_str(), "%4d-%2d-%2d%n", &y, &m, &d, &consumed) != 3 || consumed != 10 ||
      y < 1970 || m < 1 || m > 12 || d < 1 || d > 31)
    return bad;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (date[i] < '0' || date[i] > '9') return bad;
  const int64_t start = LocalMidnightMs(y, m, d);
  // mktime normalises 2026-02-30 to March 2nd: a real date reads back the same.
  if (LocalDate(start) != date) return bad;
  return std::make_pair(start, LocalMidnightMs(y, m, d + 1));
}

std::string LocalDate(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char text[40];
  std::snprintf(text, sizeof text, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday);
  return text;
}

Result<DayReport> BuildDayReport(SightingStore& store, const std::string& date, int64_t from_ms,
                                 int64_t to_ms, const std::optional<DailyWindow>& office) {
  DayReport report{date, from_ms, to_ms, {}, {}, {}};
  ASSIGN_OR_RETURN(const std::vector<SightingRecord> seen,
                   store.List({.since_ms = from_ms, .limit = 0, .until_ms = to_ms}));
  std::map<std::string, PresentPerson> people;
  std::map<std::string, std::set<std::string>> cameras;
  std::set<int64_t> stranger_visits, visits;
  for (const SightingRecord& s : seen) {  // newest first
    if (s.visit_id) visits.insert(*s.visit_id);
    if (s.decision == Decision::kUnknown && s.visit_id) stranger_visits.insert(*s.visit_id);
    if (s.decision != Decision::kKnown || !s.person_id) continue;
    PresentPerson& p = people[*s.person_id];
    if (p.person_id.empty()) p = {*s.person_id, s.captured_ms, s.captured_ms, {}};
    p.first_ms = std::min(p.first_ms, s.captured_ms);
    p.last_ms = std::max(p.last_ms, s.captured_ms);
    cameras[*s.person_id].insert(s.camera);
  }
  for (auto& [id, p] : people) {
    p.cameras.assign(cameras[id].begin(), cameras[id].end());
    report.people.push_back(std::move(p));
  }
  std::sort(report.people.begin(), report.people.end(),
            [](const PresentPerson& a, const PresentPerson& b) {
              return a.first_ms != b.first_ms ? a.first_ms < b.first_ms
                                              : a.person_id < b.person_id;
            });
  for (auto it = visits.rbegin(); it != visits.rend(); ++it) {
    ASSIGN_OR_RETURN(const VisitRecord v, store.GetVisit(*it));
    if (stranger_visits.count(v.id) && !v.person_id) report.strangers.push_back(v);
    if (office && !office->Contains(v.started_ms)) report.after_hours.push_back(v);
  }
  const auto latest = [](const VisitRecord& a, const VisitRecord& b) {
    return a.last_ms != b.last_ms ? a.last_ms > b.last_ms : a.id > b.id;
  };
  std::sort(report.strangers.begin(), report.strangers.end(), latest);
  std::sort(report.after_hours.begin(), report.after_hours.end(), latest);
  return report;
}

std::string DigestText(const DayReport& report, const FaceCollection* faces) {
  const auto name = [faces](const std::optional<std::string>& id) -> std::string {
    if (!id) return "a stranger";
    if (faces) {
      if (auto p = faces->GetPerson(*id); p.ok()) return p->display_name;
    }
    return *id;
  };
  std::string text = "Daily digest for " + report.date + "\n";
  text += "Arrivals (" + std::to_string(report.people.size()) + "):";
  if (report.people.empty()) text += " nobody";
  for (const PresentPerson& p : report.people)
    text += "\n• " + name(p.person_id) + " at " + LocalClock(p.first_ms);
  text += "\nStrangers still untagged: " + std::to_string(report.strangers.size());
  for (const VisitRecord& v : report.strangers)
    text += "\n• seen " + LocalClock(v.started_ms) + "–" + LocalClock(v.last_ms);
  text += "\nAfter-hours events: " + std::to_string(report.after_hours.size());
  for (const VisitRecord& v : report.after_hours)
    text += "\n• " + name(v.person_id) + " at " + LocalClock(v.started_ms);
  return text;
}

}  // namespace concierge
