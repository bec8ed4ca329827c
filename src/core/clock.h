// Wall-clock helpers; one place so tests and records agree on units.
#pragma once

#include <cstdint>
#include <string>

namespace concierge {

// Milliseconds since the Unix epoch (UTC).
int64_t NowMs();

// "2026-11-23T08:59:01.123Z" for `ms` since the epoch.
std::string FormatIsoUtc(int64_t ms);

}  // namespace concierge
