// libFuzzer target: the image header check (PeekImageHeader) and the checks
// DecodeImage makes before decoding, with limits small enough that the
// codecs only ever see tiny pictures.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "vision/image_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace concierge;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  auto header = PeekImageHeader(bytes);
  auto image = DecodeImage(bytes, {64 * 1024, 64 * 64, 0});
  // A decoded picture never has more pixels than its header said (its EXIF
  // orientation may turn it on its side).
  if (image.ok() && (!header.ok() || static_cast<int64_t>(image->cols) * image->rows >
                                         static_cast<int64_t>(header->width) * header->height))
    std::abort();
  return 0;
}
