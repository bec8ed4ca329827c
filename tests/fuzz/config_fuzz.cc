// libFuzzer target: the config file loader (bounded JSON, then the typed
// config over the defaults, then its redacted form).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/config.h"
#include "core/json_limits.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace concierge;
  auto doc = ParseBoundedJson(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!doc.ok()) return 0;
  auto config = ConfigFromJson(*doc);
  if (config.ok()) (void)RedactedConfig(*config).dump();
  return 0;
}
