// Face-box ground truth for detection evaluation (FDDB boxes derived from
// ellipses, dlib imglab XML) and the matching that turns it into recall.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/types.h"

namespace concierge {

// Image path (absolute) -> its true face boxes.
using GroundTruth = std::map<std::string, std::vector<Box>>;

// Reads FDDB's derived_boxes_from_ellipses.csv; image paths resolve to
// <images_dir>/<fddb_name>.jpg.
Result<GroundTruth> LoadFddbBoxes(const std::string& csv_path, const std::string& images_dir);

// Reads a dlib imglab XML file; image paths resolve next to the XML file.
Result<GroundTruth> LoadDlibBoxes(const std::string& xml_path);

struct MatchCount {
  int truths = 0;      // ground-truth faces
  int found = 0;       // truths matched by a detection at IoU >= threshold
  int detections = 0;  // all detections
  int false_positives = 0;  // detections matching no truth
  double recall() const { return truths ? double(found) / truths : 0; }
};

// Greedy one-to-one matching of detections (best score first) to truths.
MatchCount MatchBoxes(const std::vector<Box>& truths, const std::vector<Box>& detections, float iou);

}  // namespace concierge
