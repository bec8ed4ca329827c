#include "vision/image_io.h"

#include <algorithm>
#include <cstdint>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>

#include <libexif/exif-data.h>
#include <turbojpeg.h>

#include <opencv2/imgcodecs.hpp>  // the IMREAD_* values only

#include "vision/media_plugin.h"

namespace concierge {

namespace {

uint32_t Be16(const std::string& b, size_t i) {
  return (static_cast<uint8_t>(b[i]) << 8) | static_cast<uint8_t>(b[i + 1]);
}
uint32_t Be32(const std::string& b, size_t i) { return (Be16(b, i) << 16) | Be16(b, i + 2); }
uint32_t Le16(const std::string& b, size_t i) {
  return static_cast<uint8_t>(b[i]) | (static_cast<uint8_t>(b[i + 1]) << 8);
}
uint32_t Le32(const std::string& b, size_t i) { return Le16(b, i) | (Le16(b, i + 2) << 16); }

Result<ImageHeader> JpegHeader(const std::string& b) {
  size_t i = 2;
  while (i + 9 < b.size()) {
    if (static_cast<uint8_t>(b[i]) != 0xFF) return Status::InvalidArgument("corrupt JPEG header");
    const uint8_t marker = static_cast<uint8_t>(b[i + 1]);
    if (marker == 0xFF) { ++i; continue; }  // fill byte
    if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) { i += 2; continue; }
    const uint32_t len = Be16(b, i + 2);
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 &&
                     marker != 0xCC;
    if (sof) return ImageHeader{"jpeg", static_cast<int>(Be16(b, i + 7)), static_cast<int>(Be16(b, i + 5))};
    if (len < 2) return Status::InvalidArgument("corrupt JPEG header");
    i += 2 + len;
  }
  return Status::InvalidArgument("JPEG has no frame header (truncated?)");
}

// Walks a JPEG's segments from SOI to the first SOS: every length in bounds,
// a frame header (SOF) whose length matches its component count before the
// scan, a scan header naming 1..4 components and entropy data after it.
Status CheckJpegSegments(const std::string& b) {
  const auto corrupt = [](const std::string& what) {
    return Status::InvalidArgument("corrupt JPEG: " + what);
  };
  bool frame = false;
  size_t i = 2;
  while (i + 4 <= b.size()) {
    if (static_cast<uint8_t>(b[i]) != 0xFF) return corrupt("no marker where a segment starts");
    const uint8_t marker = static_cast<uint8_t>(b[i + 1]);
    if (marker == 0xFF) { ++i; continue; }  // fill byte
    if (marker == 0x01) { i += 2; continue; }  // TEM: no length
    if (marker == 0xD8 || marker == 0xD9 || (marker >= 0xD0 && marker <= 0xD7))
      return corrupt("unexpected marker before the scan");
    const size_t len = Be16(b, i + 2);
    if (len < 2 || i + 2 + len > b.size()) return corrupt("a segment runs past the end");
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 &&
                     marker != 0xCC;
    if (sof) {
      if (len < 8) return corrupt("short frame header");
      const size_t components = static_cast<uint8_t>(b[i + 9]);
      if (components < 1 || components > 4 || len != 8 + 3 * components)
        return corrupt("bad frame header");
      frame = true;
    }
    if (marker == 0xDA) {  // start of scan: the header is followed by entropy-coded data
      if (!frame) return corrupt("scan before the frame header");
      const size_t components = len >= 3 ? static_cast<uint8_t>(b[i + 4]) : 0;
      if (components < 1 || components > 4 || len != 6 + 2 * components)
        return corrupt("bad scan header");
      // Entropy data, then at least the end-of-image marker.
      if (i + 2 + len + 2 >= b.size()) return corrupt("no image data after the scan header");
      return Status::Ok();
    }
    i += 2 + len;
  }
  return corrupt("no scan (truncated?)");
}

// The pixels being decoded right now, process-wide (see DecodeImage).
class DecodeBudget {
 public:
  // Waits until `pixels` more fit within `limit` (or nothing else is decoding).
  void Acquire(int64_t pixels, int64_t limit) {
    std::unique_lock<std::mutex> lock(mu_);
    freed_.wait(lock, [&] { return in_flight_ == 0 || in_flight_ + pixels <= limit; });
    in_flight_ += pixels;
  }
  void Release(int64_t pixels) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      in_flight_ -= pixels;
    }
    freed_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable freed_;
  int64_t in_flight_ = 0;
};

DecodeBudget& Budget() {
  static DecodeBudget budget;
  return budget;
}

// A reduced JPEG decode (1, 2, 4 or 8) when the image is at least twice
// `max_side` (0: never).
int JpegDivisor(const ImageHeader& header, int max_side) {
  int divisor = 1;
  if (header.format != "jpeg" || max_side <= 0) return divisor;
  const int side = std::max(header.width, header.height);
  while (divisor < 8 && side / (divisor * 2) >= max_side) divisor *= 2;
  return divisor;
}

using TurboJpeg = std::unique_ptr<void, int (*)(tjhandle)>;

// The EXIF orientation (1..8) of a JPEG; 1 without one. libexif stops at the
// first segment that is not APPn or COM, so a crop without EXIF costs little.
int ExifOrientation(const std::string& jpeg) {
  ExifData* exif = exif_data_new_from_data(reinterpret_cast<const unsigned char*>(jpeg.data()),
                                           static_cast<unsigned int>(jpeg.size()));
  if (!exif) return 1;
  int orientation = 1;
  const ExifEntry* entry = exif_data_get_entry(exif, EXIF_TAG_ORIENTATION);
  if (entry && entry->format == EXIF_FORMAT_SHORT && entry->components >= 1 && entry->size >= 2)
    orientation = exif_get_short(entry->data, exif_data_get_byte_order(exif));
  exif_data_unref(exif);
  return orientation >= 1 && orientation <= 8 ? orientation : 1;
}

// Turns a decoded picture upright as its EXIF orientation says (as OpenCV's
// imdecode does).
void ApplyOrientation(cv::Mat& image, int orientation) {
  if (orientation >= 5) cv::transpose(image, image);
  switch (orientation) {
    case 2: case 6: cv::flip(image, image, 1); break;
    case 3: case 7: cv::flip(image, image, -1); break;
    case 4: case 8: cv::flip(image, image, 0); break;
    default: break;
  }
}

// A JPEG through libjpeg-turbo, reduced by `divisor`, upright, 8-bit BGR. An
// empty Mat for CMYK and YCCK pictures, which it cannot turn into BGR.
// Warnings (slightly damaged data) still give the picture, as OpenCV did.
// The frame must be the size `header` (checked against the limits) says.
Result<cv::Mat> DecodeJpeg(const std::string& bytes, const ImageHeader& header, int divisor) {
  TurboJpeg tj(tjInitDecompress(), tjDestroy);
  if (!tj) return Status::Internal(std::string("libjpeg-turbo: ") + tjGetErrorStr2(nullptr));
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(tj.get(), data, bytes.size(), &width, &height, &subsampling,
                          &colorspace) != 0)
    return Status::InvalidArgument(std::string("jpeg data cannot be decoded: ") +
                                   tjGetErrorStr2(tj.get()));
  if (width != header.width || height != header.height)
    return Status::InvalidArgument("JPEG frame is " + std::to_string(width) + "x" +
                                   std::to_string(height) + ", its first frame header says " +
                                   std::to_string(header.width) + "x" +
                                   std::to_string(header.height));
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) return cv::Mat();
  const tjscalingfactor factor{1, divisor};
  cv::Mat image(TJSCALED(height, factor), TJSCALED(width, factor), CV_8UC3);
  if (tjDecompress2(tj.get(), data, bytes.size(), image.data, image.cols,
                    static_cast<int>(image.step), image.rows, TJPF_BGR, 0) != 0 &&
      tjGetErrorCode(tj.get()) != TJERR_WARNING)
    return Status::InvalidArgument(std::string("jpeg data cannot be decoded: ") +
                                   tjGetErrorStr2(tj.get()));
  ApplyOrientation(image, ExifOrientation(bytes));
  return image;
}

// Any other picture through the media plugin's cv::imdecode.
Result<cv::Mat> DecodeWithPlugin(const std::string& bytes, const ImageHeader& header,
                                 int divisor) {
  ASSIGN_OR_RETURN(const MediaCodecs* codecs, LoadMediaCodecs());
  const int flag = divisor == 8   ? cv::IMREAD_REDUCED_COLOR_8
                   : divisor == 4 ? cv::IMREAD_REDUCED_COLOR_4
                   : divisor == 2 ? cv::IMREAD_REDUCED_COLOR_2
                                  : cv::IMREAD_COLOR;
  cv::Mat image;
  try {
    image = codecs->Decode(bytes, flag);
  } catch (const cv::Exception& e) {
    return Status::InvalidArgument(std::string("image cannot be decoded: ") + e.what());
  }
  if (image.empty()) return Status::InvalidArgument(header.format + " data cannot be decoded");
  return image;
}

bool HasSuffixMarker(const std::string& b, const std::string& marker, size_t window) {
  const size_t from = b.size() > window ? b.size() - window : 0;
  return b.find(marker, from) != std::string::npos;
}

}  // namespace

Result<ImageHeader> PeekImageHeader(const std::string& b) {
  if (b.empty()) return Status::InvalidArgument("image is empty (0 bytes)");
  if (b.size() >= 4 && Be16(b, 0) == 0xFFD8) return JpegHeader(b);
  if (b.size() >= 24 && b.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0 && b.compare(12, 4, "IHDR") == 0)
    return ImageHeader{"png", static_cast<int>(Be32(b, 16)), static_cast<int>(Be32(b, 20))};
  if (b.size() >= 26 && b.compare(0, 2, "BM") == 0) {
    // Negative heights mean top-down rows; -2^31 has no positive int, so clamp.
    const int64_t h = static_cast<int32_t>(Le32(b, 22));
    return ImageHeader{"bmp", static_cast<int>(Le32(b, 18)),
                       static_cast<int>(std::min<int64_t>(h < 0 ? -h : h, INT32_MAX))};
  }
  if (b.size() >= 30 && b.compare(0, 4, "RIFF") == 0 && b.compare(8, 4, "WEBP") == 0) {
    const std::string chunk = b.substr(12, 4);
    if (chunk == "VP8X")
      return ImageHeader{"webp", static_cast<int>((Le32(b, 24) & 0xFFFFFF) + 1),
                         static_cast<int>((Le32(b, 27) & 0xFFFFFF) + 1)};
    if (chunk == "VP8 ")
      return ImageHeader{"webp", static_cast<int>(Le16(b, 26) & 0x3FFF),
                         static_cast<int>(Le16(b, 28) & 0x3FFF)};
    if (chunk == "VP8L") {
      const uint32_t v = Le32(b, 21);
      return ImageHeader{"webp", static_cast<int>((v & 0x3FFF) + 1),
                         static_cast<int>(((v >> 14) & 0x3FFF) + 1)};
    }
  }
  return Status::InvalidArgument("not a supported image (JPEG, PNG, BMP or WebP)");
}

namespace {

// Size, dimensions and completeness: what DecodeImage needs before a decode.
Result<ImageHeader> CheckImageBounds(const std::string& bytes, const ImageLimits& limits) {
  if (static_cast<int64_t>(bytes.size()) > limits.max_bytes)
    return Status::TooLarge("image is " + std::to_string(bytes.size()) + " bytes, limit " +
                            std::to_string(limits.max_bytes));
  ASSIGN_OR_RETURN(ImageHeader header, PeekImageHeader(bytes));
  if (header.width <= 0 || header.height <= 0)
    return Status::InvalidArgument("image header has zero dimensions");
  const int64_t pixels = static_cast<int64_t>(header.width) * header.height;
  if (pixels > limits.max_pixels)
    return Status::TooLarge(header.format + " is " + std::to_string(header.width) + "x" +
                            std::to_string(header.height) + " pixels, limit " +
                            std::to_string(limits.max_pixels) + " (decompression bomb?)");
  // libjpeg and libpng fill a cut-off image with grey and report success.
  if (header.format == "jpeg" && !HasSuffixMarker(bytes, "\xFF\xD9", 4096))
    return Status::InvalidArgument("JPEG is truncated (no end-of-image marker)");
  if (header.format == "png" && !HasSuffixMarker(bytes, "IEND", 64))
    return Status::InvalidArgument("PNG is truncated (no IEND chunk)");
  return header;
}

}  // namespace

Result<ImageHeader> CheckImageStructure(const std::string& bytes, const ImageLimits& limits) {
  // Not ASSIGN_OR_RETURN: GCC 12 warns falsely (maybe-uninitialized) on the copy.
  Result<ImageHeader> header = CheckImageBounds(bytes, limits);
  if (header.ok() && header->format == "jpeg") RETURN_IF_ERROR(CheckJpegSegments(bytes));
  return header;
}

// Not the segment walk: libjpeg tolerates stray bytes between segments in
// photos people enrol from, and the decode below finds real damage anyway.
Result<cv::Mat> DecodeImage(const std::string& bytes, const ImageLimits& limits) {
  ASSIGN_OR_RETURN(const ImageHeader header, CheckImageBounds(bytes, limits));
  const int64_t pixels = static_cast<int64_t>(header.width) * header.height;
  const int divisor = JpegDivisor(header, limits.max_side);
  const int64_t decoded_pixels = pixels / (int64_t{divisor} * divisor);
  Budget().Acquire(decoded_pixels, limits.max_pixels);
  Result<cv::Mat> image = cv::Mat();
  if (header.format == "jpeg") image = DecodeJpeg(bytes, header, divisor);
  if (image.ok() && image->empty()) image = DecodeWithPlugin(bytes, header, divisor);
  Budget().Release(decoded_pixels);
  return image;
}

Result<std::string> ReadFileBytes(const std::string& path, int64_t max_bytes) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return Status::NotFound("no such file: " + path);
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return Status::IoError("cannot stat " + path + ": " + ec.message());
  if (size == 0) return Status::InvalidArgument(path + " is empty (0 bytes)");
  if (static_cast<int64_t>(size) > max_bytes)
    return Status::TooLarge(path + " is " + std::to_string(size) + " bytes, limit " +
                            std::to_string(max_bytes));
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot read " + path);
  std::string bytes(size, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (in.gcount() != static_cast<std::streamsize>(size)) return Status::IoError("short read on " + path);
  return bytes;
}

Result<cv::Mat> ReadImageFile(const std::string& path, const ImageLimits& limits) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFileBytes(path, limits.max_bytes));
  auto image = DecodeImage(bytes, limits);
  if (!image.ok())
    return Status(image.status().code() == Status::Code::kTooLarge
                      ? Status::TooLarge(path + ": " + image.status().message())
                      : Status::InvalidArgument(path + ": " + image.status().message()));
  return image;
}

Result<std::string> EncodeJpeg(const cv::Mat& image, int quality) {
  if (image.empty()) return Status::InvalidArgument("cannot JPEG-encode an empty image");
  const int channels = image.channels();
  if (image.depth() != CV_8U || (channels != 1 && channels != 3 && channels != 4))
    return Status::InvalidArgument("cannot JPEG-encode an image of type " +
                                   cv::typeToString(image.type()));
  TurboJpeg tj(tjInitCompress(), tjDestroy);
  if (!tj) return Status::Internal(std::string("libjpeg-turbo: ") + tjGetErrorStr2(nullptr));
  unsigned char* out = nullptr;
  unsigned long size = 0;
  const int format = channels == 1 ? TJPF_GRAY : channels == 3 ? TJPF_BGR : TJPF_BGRA;
  const int subsampling = channels == 1 ? TJSAMP_GRAY : TJSAMP_420;  // as OpenCV's encoder
  const int rc = tjCompress2(tj.get(), image.data, image.cols, static_cast<int>(image.step),
                             image.rows, format, &out, &size, subsampling,
                             std::clamp(quality, 1, 100), 0);
  std::unique_ptr<unsigned char, void (*)(unsigned char*)> owned(out, tjFree);
  if (rc != 0)
    return Status::Internal(std::string("cannot JPEG-encode: ") + tjGetErrorStr2(tj.get()));
  return std::string(reinterpret_cast<const char*>(out), size);
}

Status WriteImageFile(const std::string& path, const cv::Mat& image) {
  std::string extension = std::filesystem::path(path).extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  std::string bytes;
  if (extension == ".jpg" || extension == ".jpeg") {
    ASSIGN_OR_RETURN(bytes, EncodeJpeg(image, 95));
  } else {
    ASSIGN_OR_RETURN(const MediaCodecs* codecs, LoadMediaCodecs());
    std::vector<uchar> out;
    try {
      if (!codecs->Encode(extension, image, {}, out))
        return Status::InvalidArgument("cannot write " + path + " as " + extension);
    } catch (const cv::Exception& e) {
      return Status::InvalidArgument("cannot write " + path + ": " + e.what());
    }
    bytes.assign(out.begin(), out.end());
  }
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  file.close();
  if (!file) return Status::IoError("cannot write " + path);
  return Status::Ok();
}

std::vector<std::string> ExpandImageInputs(const std::vector<std::string>& inputs) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const auto& in : inputs) {
    std::error_code ec;
    if (!fs::is_directory(in, ec)) {
      files.push_back(in);
      continue;
    }
    std::vector<std::string> found;
    for (const auto& entry : fs::directory_iterator(in, ec)) {
      std::string ext = entry.path().extension().string();
      std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
      if (entry.is_regular_file() &&
          (ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp" || ext == ".webp"))
        found.push_back(entry.path().string());
    }
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

}  // namespace concierge
