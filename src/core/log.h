// Logging setup: structured spdlog lines on stderr, so stdout stays for --json.
#pragma once

#include <string>

#include <spdlog/spdlog.h>

namespace concierge {

// Sets the global logger to stderr at `level` ("trace".."off"). Safe to call again.
void InitLogging(const std::string& level);

}  // namespace concierge
