// Safe decoding: every bad picture is refused with a clear error before any
// large allocation. Covers: empty file, non-image, truncated JPEG and PNG,
// decompression bomb, oversize file, missing file.
#include "vision/image_io.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <turbojpeg.h>

#include "support/face_images.h"
#include "support/test_env.h"

namespace concierge {
namespace {

using testing::DataPath;

TEST(ImageIo, DecodesARealJpegAndReadsItsHeader) {
  REQUIRE_TEST_DATA();
  const std::string bytes = testing::ReadFile(DataPath("enroll/face_recognition/examples/obama.jpg"));
  auto header = PeekImageHeader(bytes);
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  auto image = DecodeImage(bytes, {});
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(header->format, "jpeg");
  EXPECT_EQ(header->width, image->cols);
  EXPECT_EQ(header->height, image->rows);
  EXPECT_EQ(image->type(), CV_8UC3);
}

TEST(ImageIo, PngHeaderMatchesDecodedSize) {
  REQUIRE_TEST_DATA();
  const std::string bytes = testing::ReadFile(DataPath("enroll/face_recognition/examples/alex-lacamoire.png"));
  auto header = PeekImageHeader(bytes);
  auto image = DecodeImage(bytes, {});
  ASSERT_TRUE(header.ok() && image.ok());
  EXPECT_EQ(header->format, "png");
  EXPECT_EQ(header->width, image->cols);
}

TEST(ImageIo, EmptyAndNonImageAreInvalidArgument) {
  EXPECT_EQ(DecodeImage("", {}).status().code(), Status::Code::kInvalidArgument);
  auto text = DecodeImage("hello, I am not a picture", {});
  EXPECT_EQ(text.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(text.status().message().find("not a supported image"), std::string::npos);
}

TEST(ImageIo, TruncatedJpegIsRefused) {
  REQUIRE_TEST_DATA();
  const std::string bytes = testing::ReadFile(DataPath("enroll/face_recognition/examples/obama.jpg"));
  auto cut = DecodeImage(bytes.substr(0, bytes.size() / 2), {});
  EXPECT_EQ(cut.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(cut.status().message().find("truncated"), std::string::npos);
  // Cut inside the header: still a clean error.
  EXPECT_FALSE(DecodeImage(bytes.substr(0, 40), {}).ok());
}

// What ingest checks instead of a decode: the header and the segment
// structure, never the pixels.
TEST(ImageIo, StructureCheckPassesRealJpegsAndRefusesBrokenSegments) {
  REQUIRE_TEST_DATA();
  const std::string bytes = testing::ReadFile(DataPath("enroll/face_recognition/examples/obama.jpg"));
  auto header = CheckImageStructure(bytes, {});
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  auto image = DecodeImage(bytes, {});
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(header->width, image->cols);
  EXPECT_EQ(header->height, image->rows);
  std::vector<uchar> encoded;
  ASSERT_TRUE(cv::imencode(".jpg", *image, encoded, {cv::IMWRITE_JPEG_QUALITY, 90}));
  const std::string crop(encoded.begin(), encoded.end());
  EXPECT_TRUE(CheckImageStructure(crop, {}).ok());

  // The first segment after SOI (APP0 from OpenCV) claims to run past the end.
  std::string overlong = crop;
  overlong[4] = '\xFF';
  overlong[5] = '\xF0';
  auto refused = CheckImageStructure(overlong, {});
  EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("corrupt JPEG"), std::string::npos)
      << refused.status().message();
  // A scan header before any frame header: SOS where APP0 was.
  std::string no_frame = crop;
  no_frame[3] = '\xDA';
  EXPECT_EQ(CheckImageStructure(no_frame, {}).status().code(), Status::Code::kInvalidArgument);
  // Truncated, and over the pixel limit: as DecodeImage says.
  EXPECT_NE(CheckImageStructure(crop.substr(0, crop.size() / 2), {})
                .status().message().find("truncated"),
            std::string::npos);
  ImageLimits small;
  small.max_pixels = 100;
  EXPECT_EQ(CheckImageStructure(crop, small).status().code(), Status::Code::kTooLarge);
  EXPECT_EQ(CheckImageStructure("not an image", {}).status().code(),
            Status::Code::kInvalidArgument);
}

TEST(ImageIo, TruncatedPngIsRefused) {
  REQUIRE_TEST_DATA();
  const std::string bytes = testing::ReadFile(DataPath("enroll/face_recognition/examples/alex-lacamoire.png"));
  auto cut = DecodeImage(bytes.substr(0, bytes.size() - 100), {});
  EXPECT_EQ(cut.status().code(), Status::Code::kInvalidArgument);
}

TEST(ImageIo, DecompressionBombIsRefusedFromTheHeader) {
  const std::string bomb = testing::PngBombHeader(30000, 30000);
  auto header = PeekImageHeader(bomb);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->width, 30000);
  auto decoded = DecodeImage(bomb, {});
  EXPECT_EQ(decoded.status().code(), Status::Code::kTooLarge);
  EXPECT_NE(decoded.status().message().find("30000x30000"), std::string::npos);
  // The limit is configurable.
  EXPECT_EQ(DecodeImage(testing::PngBombHeader(200, 200), {.max_bytes = 1 << 20, .max_pixels = 100 * 100})
                .status()
                .code(),
            Status::Code::kTooLarge);
}

TEST(ImageIo, OversizeFileAndMissingFile) {
  testing::TempDir dir;
  testing::WriteFile(dir.Sub("big.jpg"), std::string(2048, 'x'));
  EXPECT_EQ(ReadImageFile(dir.Sub("big.jpg"), {.max_bytes = 1024, .max_pixels = 1000}).status().code(),
            Status::Code::kTooLarge);
  EXPECT_EQ(ReadImageFile(dir.Sub("absent.jpg"), {}).status().code(), Status::Code::kNotFound);
  testing::WriteFile(dir.Sub("empty.jpg"), "");
  EXPECT_EQ(ReadImageFile(dir.Sub("empty.jpg"), {}).status().code(), Status::Code::kInvalidArgument);
}

TEST(ImageIo, JpegRoundTrip) {
  cv::Mat image(64, 48, CV_8UC3, cv::Scalar(10, 200, 30));
  auto jpeg = EncodeJpeg(image, 90);
  ASSERT_TRUE(jpeg.ok());
  auto back = DecodeImage(*jpeg, {});
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->size(), image.size());
}

// Resident memory of this process now, in MiB.
double RssMib() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * (::sysconf(_SC_PAGESIZE) / 1024.0) / 1024.0;
}

TEST(ImageIo, ConcurrentLargeDecodesShareOneMemoryBudget) {
  // A 6000x6000 PNG compresses to a few hundred KB and decodes to 103 MiB.
  std::string bytes;
  {
    cv::Mat flat(6000, 6000, CV_8UC3, cv::Scalar(40, 90, 200));
    std::vector<uchar> png;
    ASSERT_TRUE(cv::imencode(".png", flat, png));
    bytes.assign(png.begin(), png.end());
  }
  ASSERT_LT(bytes.size(), 4u * 1024 * 1024);
  // The limit admits one such picture at a time.
  const ImageLimits limits{30 * 1024 * 1024, 6000 * 6000};
  ASSERT_TRUE(DecodeImage(bytes, limits).ok());  // warm up the codec once
  const double before = RssMib();
  std::atomic<bool> done{false};
  double peak = before;
  std::thread sampler([&] {
    while (!done) {
      peak = std::max(peak, RssMib());
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::vector<std::thread> decoders;
  std::atomic<int> decoded{0};
  for (int i = 0; i < 4; ++i)
    decoders.emplace_back([&] {
      auto image = DecodeImage(bytes, limits);
      if (image.ok() && image->cols == 6000) ++decoded;
    });
  for (auto& t : decoders) t.join();
  done = true;
  sampler.join();
  EXPECT_EQ(decoded, 4);
  // Four at once would hold up to 4 x 103 MiB; one at a time holds one.
  EXPECT_LT(peak - before, 180.0) << "resident before " << before << " MiB, peak " << peak;
}

TEST(ImageIo, LargeJpegsDecodeReducedWhenTheCallerNeedsLess) {
  cv::Mat big(3000, 4000, CV_8UC3, cv::Scalar(10, 20, 30));
  cv::rectangle(big, {1000, 1000, 800, 600}, cv::Scalar(250, 250, 250), cv::FILLED);
  auto jpeg = EncodeJpeg(big, 90);
  ASSERT_TRUE(jpeg.ok());
  auto full = DecodeImage(*jpeg, {});
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->cols, 4000);
  auto reduced = DecodeImage(*jpeg, {30 * 1024 * 1024, 50'000'000, 1000});
  ASSERT_TRUE(reduced.ok());
  EXPECT_EQ(reduced->cols, 1000) << "4000 / 4 still reaches 1000";
  EXPECT_EQ(reduced->rows, 750);
  auto half = DecodeImage(*jpeg, {30 * 1024 * 1024, 50'000'000, 1500});
  ASSERT_TRUE(half.ok());
  EXPECT_EQ(half->cols, 2000);
}

// A picture whose every orientation differs: a gradient with a mark near one corner.
cv::Mat Asymmetric(int width, int height) {
  cv::Mat image(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      image.at<cv::Vec3b>(y, x) = cv::Vec3b(x * 255 / width, y * 255 / height, 128);
  cv::rectangle(image, {2, 2, width / 4, height / 5}, cv::Scalar(0, 0, 255), cv::FILLED);
  return image;
}

std::string OpenCvJpeg(const cv::Mat& image) {
  std::vector<uchar> out;
  EXPECT_TRUE(cv::imencode(".jpg", image, out, {cv::IMWRITE_JPEG_QUALITY, 90}));
  return std::string(out.begin(), out.end());
}

// The JPEG with an EXIF segment (little-endian TIFF, one IFD entry) saying `orientation`.
std::string WithExifOrientation(const std::string& jpeg, int orientation) {
  const std::string tiff = std::string("II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0", 18) +
                           static_cast<char>(orientation) + std::string(7, '\0');
  const std::string payload = std::string("Exif\0\0", 6) + tiff;
  const size_t length = payload.size() + 2;
  const std::string app1 = std::string("\xFF\xE1") + static_cast<char>(length >> 8) +
                           static_cast<char>(length & 0xFF) + payload;
  return jpeg.substr(0, 2) + app1 + jpeg.substr(2);
}

double MaxDifference(const cv::Mat& a, const cv::Mat& b) {
  double max = 0;
  cv::minMaxLoc(cv::abs(a - b), nullptr, &max);
  return max;
}

// JPEG is decoded in-process (libjpeg-turbo), OpenCV's imgcodecs only through
// the media plugin: the pixels must be what cv::imdecode gave, upright by EXIF.
TEST(ImageIo, JpegsDecodeAsOpenCvDoesInEveryExifOrientation) {
  const std::string plain = OpenCvJpeg(Asymmetric(80, 48));
  for (int orientation = 1; orientation <= 8; ++orientation) {
    SCOPED_TRACE("orientation " + std::to_string(orientation));
    const std::string jpeg = WithExifOrientation(plain, orientation);
    const std::vector<uchar> buf(jpeg.begin(), jpeg.end());
    for (const auto& [max_side, flag] :
         std::vector<std::pair<int, int>>{{0, cv::IMREAD_COLOR}, {40, cv::IMREAD_REDUCED_COLOR_2}}) {
      const cv::Mat expected = cv::imdecode(buf, flag);
      auto decoded = DecodeImage(jpeg, {30 * 1024 * 1024, 50'000'000, max_side});
      ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
      ASSERT_EQ(decoded->size(), expected.size()) << "max_side " << max_side;
      EXPECT_LE(MaxDifference(*decoded, expected), 1.0) << "max_side " << max_side;
    }
  }
}

TEST(ImageIo, GreyAndCmykJpegsDecodeToBgrAsOpenCvDoes) {
  cv::Mat grey;
  cv::cvtColor(Asymmetric(64, 40), grey, cv::COLOR_BGR2GRAY);
  const std::string grey_jpeg = OpenCvJpeg(grey);
  auto decoded = DecodeImage(grey_jpeg, {});
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  const cv::Mat expected = cv::imdecode(std::vector<uchar>(grey_jpeg.begin(), grey_jpeg.end()),
                                        cv::IMREAD_COLOR);
  EXPECT_EQ(decoded->type(), CV_8UC3);
  EXPECT_LE(MaxDifference(*decoded, expected), 1.0);

  // libjpeg-turbo cannot turn CMYK into BGR; such a JPEG goes through OpenCV.
  const cv::Mat cmyk(40, 64, CV_8UC4, cv::Scalar(20, 200, 40, 10));
  tjhandle tj = tjInitCompress();
  unsigned char* out = nullptr;
  unsigned long size = 0;
  ASSERT_EQ(tjCompress2(tj, cmyk.data, cmyk.cols, static_cast<int>(cmyk.step), cmyk.rows,
                        TJPF_CMYK, &out, &size, TJSAMP_444, 90, 0),
            0);
  const std::string cmyk_jpeg(reinterpret_cast<const char*>(out), size);
  tjFree(out);
  tjDestroy(tj);
  auto from_cmyk = DecodeImage(cmyk_jpeg, {});
  ASSERT_TRUE(from_cmyk.ok()) << from_cmyk.status().ToString();
  const cv::Mat opencv = cv::imdecode(std::vector<uchar>(cmyk_jpeg.begin(), cmyk_jpeg.end()),
                                      cv::IMREAD_COLOR);
  ASSERT_FALSE(opencv.empty());
  EXPECT_EQ(MaxDifference(*from_cmyk, opencv), 0.0);
}

TEST(ImageIo, WritesJpegInProcessAndOtherFormatsThroughThePlugin) {
  testing::TempDir dir;
  const cv::Mat image = Asymmetric(40, 30);
  for (const std::string name : {"out.jpg", "out.PNG"}) {
    const std::string path = dir.path() + "/" + name;
    ASSERT_TRUE(WriteImageFile(path, image).ok()) << name;
    auto back = ReadImageFile(path, {});
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    ASSERT_EQ(back->size(), image.size()) << name;
    const double mean_difference = cv::norm(*back, image, cv::NORM_L1) / double(image.total() * 3);
    EXPECT_LE(mean_difference, name == "out.PNG" ? 0.0 : 3.0) << name;
  }
  EXPECT_EQ(PeekImageHeader(testing::ReadFile(dir.path() + "/out.PNG"))->format, "png");
  EXPECT_EQ(WriteImageFile(dir.path() + "/out.nosuchformat", image).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(WriteImageFile(dir.path() + "/missing/out.jpg", image).code(),
            Status::Code::kIoError);
}

TEST(ImageIo, BmpHeightOfMinusTwoToThe31IsTooLargeNotUndefined) {
  // Found by tests/fuzz/image_header_fuzz: negating INT32_MIN was undefined.
  std::string bmp = "BM" + std::string(24, '\0');
  bmp[18] = 100;      // width 100
  bmp[25] = '\x80';  // height 0x80000000 = -2^31
  auto header = PeekImageHeader(bmp);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->height, INT32_MAX);
  auto image = DecodeImage(bmp, {});
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), Status::Code::kTooLarge);
}

}  // namespace
}  // namespace concierge
