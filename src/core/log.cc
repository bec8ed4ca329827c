#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace concierge {

void InitLogging(const std::string& level) {
  auto logger = spdlog::get("concierge");
  if (!logger) logger = spdlog::stderr_color_mt("concierge");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace concierge
