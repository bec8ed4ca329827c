#include "support/sighting_crops.h"

#include <algorithm>
#include <filesystem>

#include <opencv2/imgcodecs.hpp>

#include "core/clock.h"
#include "support/test_env.h"

namespace concierge::testing {

namespace fs = std::filesystem;

std::string FaceCrop(const std::string& relative_path) {
  const cv::Mat photo = cv::imread(DataPath(relative_path), cv::IMREAD_COLOR);
  if (photo.empty()) return "";
  const int side = std::min({180, photo.cols, photo.rows});
  const cv::Mat crop =
      photo(cv::Rect((photo.cols - side) / 2, (photo.rows - side) / 2, side, side));
  std::vector<uchar> jpeg;
  cv::imencode(".jpg", crop, jpeg, {cv::IMWRITE_JPEG_QUALITY, 90});
  return std::string(jpeg.begin(), jpeg.end());
}

std::vector<std::string> LfwFaceCrops(int count) {
  std::vector<std::string> people;
  for (const auto& entry : fs::directory_iterator(DataPath("lfw/images")))
    if (entry.is_directory()) people.push_back(entry.path().filename().string());
  std::sort(people.begin(), people.end());
  std::vector<std::string> crops;
  for (const auto& name : people) {
    if (static_cast<int>(crops.size()) >= count) break;
    std::vector<std::string> photos;
    for (const auto& photo : fs::directory_iterator(DataPath("lfw/images/" + name)))
      photos.push_back(photo.path().filename().string());
    if (photos.empty()) continue;
    std::string crop =
        FaceCrop("lfw/images/" + name + "/" + *std::min_element(photos.begin(), photos.end()));
    if (!crop.empty()) crops.push_back(std::move(crop));
  }
  return crops;
}

Sighting MakeSighting(const std::string& jpeg, const std::string& site, const std::string& camera,
                      int64_t captured_ms) {
  Sighting s;
  s.id = NewSightingId();
  s.camera = camera;
  s.site = site;
  s.track = NewSightingId();
  s.captured_ms = captured_ms > 0 ? captured_ms : NowMs();
  s.box = {40, 40, 100, 100};
  s.detector_score = 0.99f;
  s.quality = {100, 50, 0, 0, 120, 0.9f};
  s.live_score = 0.9f;
  s.jpeg = jpeg;
  return s;
}

}  // namespace concierge::testing
