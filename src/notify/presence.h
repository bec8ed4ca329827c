// Presence: who was seen on one local day, built from the sighting store.
// The "Today" board, its API and the daily digest all read this one report.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "notify/notifier.h"
#include "store/face_collection.h"
#include "store/sighting_store.h"

namespace concierge {

// One person seen on the day.
struct PresentPerson {
  std::string person_id;
  int64_t first_ms = 0;
  int64_t last_ms = 0;
  std::vector<std::string> cameras;  // sorted, distinct
};

struct DayReport {
  std::string date;  // "YYYY-MM-DD", local
  int64_t from_ms = 0;
  int64_t to_ms = 0;                      // exclusive
  std::vector<PresentPerson> people;      // by first arrival
  std::vector<VisitRecord> strangers;     // visits of faces still unknown, latest first
  std::vector<VisitRecord> after_hours;   // visits started outside office hours, latest first
};

// The local day "YYYY-MM-DD" names: [start, end) in epoch ms; kInvalidArgument
// for anything but a real calendar date in that form (1970..9999).
Result<std::pair<int64_t, int64_t>> LocalDayBounds(const std::string& date);
// "YYYY-MM-DD" of the local day holding `ms`.
std::string LocalDate(int64_t ms);

// Needs a store and a day from LocalDayBounds. `office` empty: nothing counts
// as after hours. Reads only; safe from any thread the store is.
Result<DayReport> BuildDayReport(SightingStore& store, const std::string& date, int64_t from_ms,
                                 int64_t to_ms, const std::optional<DailyWindow>& office);

// The digest's Slack text for a report; names come from `faces` (may be null).
std::string DigestText(const DayReport& report, const FaceCollection* faces);

}  // namespace concierge
