// Safe image decoding: every picture that enters Concierge (files, uploads,
// bus payloads) goes through here, so bombs and truncated files stop at the door.
// JPEG is decoded and encoded in-process (libjpeg-turbo, EXIF orientation by
// libexif); PNG, BMP, WebP and CMYK JPEGs through the media plugin
// (vision/media_plugin.h), loaded on the first such picture.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/status.h"

namespace concierge {

struct ImageLimits {
  int64_t max_bytes = 30 * 1024 * 1024;
  int64_t max_pixels = 50'000'000;
  // 0: decode at full size. Otherwise the longer side the caller needs: a
  // larger JPEG is decoded reduced by 2, 4 or 8 (much faster and smaller) as
  // long as it stays at least this large; other formats come back full size.
  int max_side = 0;
};

struct ImageHeader {
  std::string format;  // "jpeg", "png", "bmp", "webp"
  int width = 0;
  int height = 0;
};

// Reads format and dimensions from the first bytes without decoding pixels.
// Guarantees kInvalidArgument for empty, unrecognised or malformed headers.
Result<ImageHeader> PeekImageHeader(const std::string& bytes);

// Checks what can be checked without decoding pixels: size (kTooLarge),
// header dimensions against the pixel limit (kTooLarge), a complete file
// (JPEG end-of-image, PNG IEND) and, for JPEG, well-formed segments from the
// start of the file through the scan header with a frame header before it
// (kInvalidArgument). About a microsecond, where a decode takes hundreds: the
// ingest stage uses it, and whatever decodes later still handles a corrupt
// scan as an error (DecodeImage).
Result<ImageHeader> CheckImageStructure(const std::string& bytes, const ImageLimits& limits);

// Decodes `bytes` into an 8-bit BGR image. Checks size and header dimensions
// against `limits` before decoding (kTooLarge), and rejects truncated JPEG/PNG
// data (kInvalidArgument) instead of returning a half-grey picture; data that
// does not decode is kInvalidArgument. Decodes
// across the process share one budget: one waits while the pixels being
// decoded plus its own would exceed limits.max_pixels, so memory stays
// bounded however many arrive at once (a single image always proceeds).
Result<cv::Mat> DecodeImage(const std::string& bytes, const ImageLimits& limits);

// Reads a whole file (kNotFound if missing, kInvalidArgument if empty, kTooLarge
// over limits.max_bytes) and decodes it as DecodeImage does.
Result<cv::Mat> ReadImageFile(const std::string& path, const ImageLimits& limits);

// Expands folders among `inputs` into their picture files (.jpg, .jpeg,
// .png, .bmp, .webp; sorted, not recursive); plain paths pass through
// unchanged, so missing files are reported by whoever reads them.
std::vector<std::string> ExpandImageInputs(const std::vector<std::string>& inputs);

// Reads a whole file into memory, refusing files over `max_bytes`.
Result<std::string> ReadFileBytes(const std::string& path, int64_t max_bytes);

// JPEG-encodes an 8-bit image of 1 (grey), 3 (BGR) or 4 (BGRA) channels at
// `quality` (1..100), 4:2:0 as OpenCV's encoder; kInvalidArgument otherwise.
Result<std::string> EncodeJpeg(const cv::Mat& image, int quality);

// Writes `image` to `path` in the format its extension names: JPEG (quality
// 95, as cv::imwrite) here, others through the media plugin. kInvalidArgument
// for a format or image that cannot be written, kIoError if the file cannot.
Status WriteImageFile(const std::string& path, const cv::Mat& image);

}  // namespace concierge
