// The vision engine: detector, landmarks, aligner, embedder, quality and
// anti-spoofing behind one call. Not a god object: it only sequences the
// stage classes, each of which is usable on its own.
#pragma once

#include <memory>
#include <vector>

#include <opencv2/core.hpp>

#include "core/config.h"
#include "core/status.h"
#include "core/types.h"
#include "vision/anti_spoof.h"
#include "vision/embedder.h"
#include "vision/face_detector.h"
#include "vision/landmarks.h"
#include "vision/model_pack.h"

namespace concierge {

struct AnalyzeOptions {
  bool embed = true;
  bool anti_spoof = true;
};

class FaceEngine {
 public:
  // Loads and verifies the pack in config.models_dir. kFailedPrecondition if
  // the models are missing or do not match their pinned hashes.
  static Result<std::unique_ptr<FaceEngine>> Create(const VisionConfig& config);

  // Detects every face in `bgr` and describes each (points, quality, and as
  // asked, embedding and live score). Faces come sorted by detector score.
  Result<std::vector<FaceObservation>> Analyze(const cv::Mat& bgr, const AnalyzeOptions& options);

  // Describes one already-detected face.
  Result<FaceObservation> Describe(const cv::Mat& bgr, const Detection& detection,
                                   const AnalyzeOptions& options);

  // The aligned 112x112 crop for a described face (for thumbnails and tests).
  Result<cv::Mat> Aligned(const cv::Mat& bgr, const FaceObservation& face) const;

  FaceDetector& detector() { return *detector_; }
  int dimensions() const { return embedder_->dimensions(); }
  const ModelPack& pack() const { return pack_; }

 private:
  FaceEngine() = default;
  ModelPack pack_;
  std::unique_ptr<FaceDetector> detector_;
  std::unique_ptr<LandmarkDetector> landmarks_;
  std::unique_ptr<FaceEmbedder> embedder_;
  std::unique_ptr<AntiSpoof> anti_spoof_;  // null when disabled in config
};

}  // namespace concierge
