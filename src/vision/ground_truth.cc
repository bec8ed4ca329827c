#include "vision/ground_truth.h"

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace concierge {

namespace fs = std::filesystem;

Result<GroundTruth> LoadFddbBoxes(const std::string& csv_path, const std::string& images_dir) {
  std::ifstream in(csv_path);
  if (!in) return Status::NotFound("cannot read " + csv_path);
  GroundTruth truth;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string name, fold, x1, y1, x2, y2;
    if (!std::getline(ls, name, ',') || !std::getline(ls, fold, ',') || !std::getline(ls, x1, ',') ||
        !std::getline(ls, y1, ',') || !std::getline(ls, x2, ',') || !std::getline(ls, y2))
      return Status::InvalidArgument("malformed line in " + csv_path + ": " + line);
    const float a = std::stof(x1), b = std::stof(y1), c = std::stof(x2), d = std::stof(y2);
    truth[(fs::path(images_dir) / (name + ".jpg")).string()].push_back({a, b, c - a, d - b});
  }
  return truth;
}

Result<GroundTruth> LoadDlibBoxes(const std::string& xml_path) {
  std::ifstream in(xml_path);
  if (!in) return Status::NotFound("cannot read " + xml_path);
  const std::string dir = fs::path(xml_path).parent_path().string();
  static const std::regex kImage(R"(<image file='([^']+)')");
  static const std::regex kBox(R"(<box top='(-?\d+)' left='(-?\d+)' width='(\d+)' height='(\d+)')");
  GroundTruth truth;
  std::string current, line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, kImage)) {
      current = (fs::path(dir) / m[1].str()).string();
      truth[current];
    } else if (!current.empty() && std::regex_search(line, m, kBox)) {
      truth[current].push_back({std::stof(m[2].str()), std::stof(m[1].str()), std::stof(m[3].str()),
                                std::stof(m[4].str())});
    }
  }
  if (truth.empty()) return Status::InvalidArgument(xml_path + " holds no images");
  return truth;
}

MatchCount MatchBoxes(const std::vector<Box>& truths, const std::vector<Box>& detections, float iou) {
  MatchCount count;
  count.truths = static_cast<int>(truths.size());
  count.detections = static_cast<int>(detections.size());
  std::vector<bool> used(truths.size(), false);
  for (const Box& d : detections) {
    int best = -1;
    float best_iou = iou;
    for (size_t t = 0; t < truths.size(); ++t) {
      const float v = IoU(d, truths[t]);
      if (!used[t] && v >= best_iou) {
        best_iou = v;
        best = static_cast<int>(t);
      }
    }
    if (best >= 0) {
      used[static_cast<size_t>(best)] = true;
      ++count.found;
    } else {
      ++count.false_positives;
    }
  }
  return count;
}

}  // namespace concierge
