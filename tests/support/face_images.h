// Building bad and good images for tests: truncations, bombs, resized faces.
#pragma once

#include <string>

#include "support/test_env.h"  // ReadFile

namespace concierge::testing {

// Writes `bytes` to `path`, replacing it.
void WriteFile(const std::string& path, const std::string& bytes);

// A valid PNG header (signature + IHDR with a correct CRC) claiming
// width x height, followed by a tiny IDAT and IEND: a decompression bomb as
// far as any header check can tell.
std::string PngBombHeader(int width, int height);

}  // namespace concierge::testing
