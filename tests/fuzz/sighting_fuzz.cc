// libFuzzer target: the MQTT sighting payload (DecodeSighting). Whatever it
// accepts must encode and decode again to the same sighting.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "pipeline/sighting.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace concierge;
  const std::string payload(reinterpret_cast<const char*>(data), size);
  auto decoded = DecodeSighting(payload, DecodeLimits{64 * 1024});
  if (!decoded.ok()) return 0;
  auto again = DecodeSighting(EncodeSighting(*decoded), DecodeLimits{1024 * 1024});
  if (!again.ok() || again->id != decoded->id || again->jpeg != decoded->jpeg ||
      again->faces.size() != decoded->faces.size())
    std::abort();
  return 0;
}
