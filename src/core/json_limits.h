// Bounded JSON parsing: the one way JSON from outside the process (HTTP
// bodies, settings, MQTT sightings, Slack payloads, the config file, AWS
// request bodies) becomes a document. nlohmann parses without recursion, but
// code that walks a document (merge_patch, diff, dump, our own walkers)
// recurses per level, so a 50,000-deep body would overflow a thread's stack;
// the depth limit is checked on the raw text before anything is built.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace concierge {

inline constexpr size_t kDefaultMaxJsonBytes = 1024 * 1024;
inline constexpr int kDefaultMaxJsonDepth = 32;

struct JsonLimits {
  size_t max_bytes = kDefaultMaxJsonBytes;
  int max_depth = kDefaultMaxJsonDepth;  // arrays and objects inside each other
};

// The deepest nesting of arrays and objects in `text` (strings and their
// escapes skipped), counting no further than limit + 1. Linear, no recursion.
int JsonNestingDepth(std::string_view text, int limit);

// Needs nothing. Returns the document when `text` is at most
// limits.max_bytes, nests at most limits.max_depth levels and is valid JSON.
// Otherwise kTooLarge ("JSON is N bytes; the limit is M") or kInvalidArgument
// ("JSON is nested deeper than N levels", "not valid JSON"). Never throws.
Result<nlohmann::json> ParseBoundedJson(std::string_view text, const JsonLimits& limits = {});

// Reads and parses the file at `path` with the same limits (the size is
// checked before the file is read whole). kIoError when it cannot be read.
Result<nlohmann::json> ReadBoundedJsonFile(const std::string& path,
                                           const JsonLimits& limits = {});

}  // namespace concierge
