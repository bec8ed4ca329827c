// Finds faces in frames of any size. Small faces in 1080p frames matter, so
// wide frames are scanned at full view plus overlapping tiles (see
// DetectorOptions::tile_above_width); BENCHMARKS.md measures the trade-off.
#pragma once

#include <memory>
#include <vector>

#include <opencv2/core.hpp>

#include "core/status.h"
#include "core/types.h"
#include "vision/model_pack.h"

namespace concierge {

struct Detection {
  Box box;  // source pixels
  float score = 0;
};

struct DetectorOptions {
  float score_threshold = 0.7f;
  float nms_threshold = 0.4f;
  int tile_above_width = 1280;  // 0 disables tiling
  // Pictures whose longer side is below this are scanned at twice their size
  // in tiles, so faces of 10-20 px in small photos are found; 0: never.
  int upscale_below_px = 0;
  int min_face_px = 20;
  int threads = 1;              // inference threads
};

class FaceDetector {
 public:
  virtual ~FaceDetector() = default;
  // Needs an 8-bit BGR image. Returns faces sorted by score, boxes clipped to
  // the image, overlapping duplicates suppressed.
  virtual Result<std::vector<Detection>> Detect(const cv::Mat& bgr) = 0;
};

// Builds the detector named by the pack's "detector" adapter.
Result<std::unique_ptr<FaceDetector>> CreateFaceDetector(const ModelPack& pack,
                                                         const DetectorOptions& options);

// Greedy non-maximum suppression: keeps the highest scores first and drops
// boxes overlapping a kept one above IoU `iou` or lying 70% inside it.
std::vector<Detection> SuppressOverlaps(std::vector<Detection> detections, float iou);

// Overlapping tiles covering a `frame` so each tile is about `tile` in size.
std::vector<cv::Rect> TileGrid(cv::Size frame, cv::Size tile, float overlap);

}  // namespace concierge
