// The vision engine: detector, human-face check, landmarks, aligner,
// embedders, quality and anti-spoofing behind one call. Not a god object: it
// only sequences the stage classes, each of which is usable on its own.
// Thread safety: Analyze, Describe and EmbedWith may run concurrently.
#pragma once

#include <memory>
#include <vector>

#include <opencv2/core.hpp>

#include "core/config.h"
#include "core/status.h"
#include "core/types.h"
#include "vision/anti_spoof.h"
#include "vision/embedder.h"
#include "vision/face_check.h"
#include "vision/face_detector.h"
#include "vision/landmarks.h"
#include "vision/model_pack.h"

namespace concierge {

// Which embedders Describe runs.
enum class EmbedWith {
  kNone,
  kPrimary,  // the pack's first embedder: enough to search
  kAll,      // every embedder: what the collection stores for a face
};

struct AnalyzeOptions {
  EmbedWith embed = EmbedWith::kPrimary;
  bool anti_spoof = true;
  // false: the face was checked already (by the edge); it is taken as human
  // and human_score stays -1.
  bool check_human = true;
};

class FaceEngine {
 public:
  // Loads and verifies the pack in config.models_dir. kFailedPrecondition if
  // the models are missing or do not match their pinned hashes.
  static Result<std::unique_ptr<FaceEngine>> Create(const VisionConfig& config);

  // Detects every face in `bgr` and describes each. Faces that fail the
  // human-face check are returned too, marked human=false, so callers can say
  // why they refused them. Sorted by detector score.
  Result<std::vector<FaceObservation>> Analyze(const cv::Mat& bgr, const AnalyzeOptions& options);

  // Describes one already-detected face (e.g. the box the edge sent): human
  // check, one landmark pass, quality, embeddings and live score as asked.
  // A non-human face is not embedded.
  Result<FaceObservation> Describe(const cv::Mat& bgr, const Detection& detection,
                                   const AnalyzeOptions& options);

  // The human-face check alone, for a detection.
  Result<HumanFaceVerdict> CheckHuman(const cv::Mat& bgr, const Box& box) {
    return face_check_->Check(bgr, box);
  }

  // Adds embedder `index`'s vector (0 = primary) to a described human face,
  // if it does not have it yet.
  Status AddEmbedding(const cv::Mat& bgr, size_t index, FaceObservation& face);

  // The primary embedder's aligned crop of a described face (thumbnails, tests).
  Result<cv::Mat> Aligned(const cv::Mat& bgr, const FaceObservation& face) const;

  FaceDetector& detector() { return *detector_; }
  // The pack's embedders, primary first.
  const std::vector<EmbedderSpec>& embedders() const { return pack_.embedders; }
  const ModelPack& pack() const { return pack_; }

 private:
  FaceEngine() = default;
  ModelPack pack_;
  std::unique_ptr<FaceDetector> detector_;
  std::unique_ptr<HumanFaceCheck> face_check_;
  std::unique_ptr<LandmarkDetector> landmarks_;
  std::vector<std::unique_ptr<FaceEmbedder>> embedders_;
  std::unique_ptr<AntiSpoof> anti_spoof_;  // null when disabled in config
};

}  // namespace concierge
