#include "vision/face_engine.h"

#include "vision/aligner.h"
#include "vision/face_quality.h"

namespace concierge {

Result<std::unique_ptr<FaceEngine>> FaceEngine::Create(const VisionConfig& config) {
  std::unique_ptr<FaceEngine> engine(new FaceEngine());
  ASSIGN_OR_RETURN(engine->pack_, LoadModelPack(config.models_dir));
  DetectorOptions options;
  options.score_threshold = config.detect_threshold;
  options.nms_threshold = config.nms_threshold;
  options.tile_above_width = config.tile_above_width;
  options.min_face_px = config.min_face_px;
  ASSIGN_OR_RETURN(engine->detector_, CreateFaceDetector(engine->pack_, options));
  ASSIGN_OR_RETURN(engine->landmarks_, CreateLandmarkDetector(engine->pack_));
  ASSIGN_OR_RETURN(engine->embedder_, CreateFaceEmbedder(engine->pack_, config.flip_augment));
  if (config.anti_spoof) {
    ASSIGN_OR_RETURN(engine->anti_spoof_, CreateAntiSpoof(engine->pack_));
  }
  return engine;
}

Result<FaceObservation> FaceEngine::Describe(const cv::Mat& bgr, const Detection& detection,
                                             const AnalyzeOptions& options) {
  FaceObservation face;
  face.box = detection.box;
  face.detector_score = detection.score;
  ASSIGN_OR_RETURN(Landmarks68 points, landmarks_->Locate(bgr, detection.box));
  face.points = ToFivePoints(points);
  ASSIGN_OR_RETURN(cv::Mat aligned, AlignFace(bgr, face.points));
  face.quality = MeasureQuality(aligned, face.box, face.points);
  if (options.embed) {
    ASSIGN_OR_RETURN(face.embedding, embedder_->Embed(aligned));
  }
  if (options.anti_spoof && anti_spoof_) {
    ASSIGN_OR_RETURN(face.live_score, anti_spoof_->LiveScore(bgr, face.box));
  }
  return face;
}

Result<std::vector<FaceObservation>> FaceEngine::Analyze(const cv::Mat& bgr,
                                                         const AnalyzeOptions& options) {
  ASSIGN_OR_RETURN(auto detections, detector_->Detect(bgr));
  std::vector<FaceObservation> faces;
  for (const auto& d : detections) {
    ASSIGN_OR_RETURN(FaceObservation face, Describe(bgr, d, options));
    faces.push_back(std::move(face));
  }
  return faces;
}

Result<cv::Mat> FaceEngine::Aligned(const cv::Mat& bgr, const FaceObservation& face) const {
  return AlignFace(bgr, face.points);
}

}  // namespace concierge
