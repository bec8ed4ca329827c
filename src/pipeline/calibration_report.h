// What `concierge calibrate` shows: the threshold in force for the gallery,
// each person's closest other person (look-alikes, where false welcomes and
// mix-ups start), and a replay of recent decided sightings at a proposed
// false-welcome rate ("these visits would have been named differently").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "pipeline/matcher.h"
#include "store/face_collection.h"
#include "store/sighting_store.h"

namespace concierge {

struct ReplayedSighting {
  SightingRecord sighting;                // as decided then
  std::optional<std::string> would_be;    // who it would be named now (nullopt: unknown)
};

struct CalibrationReport {
  std::string collection;
  size_t persons = 0, faces = 0, stale_faces = 0;
  Calibration in_force;
  std::vector<FaceCollection::LookAlike> look_alikes;  // most similar pairs first
  // The replay (when asked for): the proposed calibration, how many sightings
  // were looked at, and those that would be named differently.
  std::optional<Calibration> proposed;
  int replay_days = 0;
  size_t replayed = 0;
  std::vector<ReplayedSighting> changed;
};

// Needs parts that outlive the call. `proposed_rate` > 0 replays the decided
// sightings of the last `days` days (their stored primary vectors, decided by
// the primary model alone: the second opinion is not replayed) at that
// false-welcome rate.
Result<CalibrationReport> MakeCalibrationReport(FaceEngine& engine, const FaceCollection& faces,
                                                Matcher& matcher, SightingStore* sightings,
                                                double proposed_rate, int days, int64_t now_ms);

// The report as the CLI's --json prints it (one JSON shape).
nlohmann::json CalibrationReportJson(const CalibrationReport& report);

}  // namespace concierge
