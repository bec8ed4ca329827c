// `concierge doctor`: whether this box can run Concierge as configured. Each
// check looks at one part the way `run`, `serve` or `edge` would use it and
// says what it found and, when it fails, how to fix it.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"

namespace concierge {

struct DoctorCheck {
  std::string name;    // "models", "database", "objects", "broker", "slack", "camera <name>", ...
  bool ok = false;
  std::string detail;  // what was looked at and what was found
  std::string fix;     // what to do about a failure; empty when ok
};

// Runs every check that applies to `config`: models (pinned hashes), database
// (opens read-only, schema current), object store (writes, reads and deletes a
// probe object), broker (bus.kind mqtt), Slack's token (auth.test, when a
// token is set), each of edge.cameras, free disk in the data dir, and the
// HTTP port (when http.enabled). Creates nothing but the probe object (and the
// object store's root, as `run` would); every network check gives up within
// a few seconds. Never fails as a whole: each problem is one failed check.
std::vector<DoctorCheck> RunDoctor(const Config& config);

}  // namespace concierge
