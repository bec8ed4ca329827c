// Real face crops for sighting tests: LFW photos cut and re-encoded as an edge
// would publish them, wrapped in valid v1 sightings.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/sighting.h"

namespace concierge::testing {

// Needs the face data. The first photo (by file name) of each of `count` LFW
// people (by name), centre-cropped to 180x180 (the face plus margin) and JPEG-encoded.
std::vector<std::string> LfwFaceCrops(int count);

// The 180x180 JPEG crop of one data-set photo (path relative to the data dir).
std::string FaceCrop(const std::string& relative_path);

// A valid sighting of `jpeg` with a fresh id and track, captured at
// `captured_ms` (now when 0).
Sighting MakeSighting(const std::string& jpeg, const std::string& site = "office",
                      const std::string& camera = "door", int64_t captured_ms = 0);

}  // namespace concierge::testing
