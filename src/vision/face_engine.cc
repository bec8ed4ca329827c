#include "vision/face_engine.h"

#include "vision/aligner.h"
#include "vision/face_quality.h"

namespace concierge {

Result<std::unique_ptr<FaceEngine>> FaceEngine::Create(const VisionConfig& config) {
  std::unique_ptr<FaceEngine> engine(new FaceEngine());
  ASSIGN_OR_RETURN(engine->pack_, LoadModelPack(config.models_dir));
  const int threads = config.inference_threads;
  DetectorOptions options;
  options.score_threshold = config.detect_threshold;
  options.nms_threshold = config.nms_threshold;
  options.tile_above_width = config.tile_above_width;
  options.upscale_below_px = config.upscale_below_px;
  options.min_face_px = config.min_face_px;
  options.threads = threads;
  ASSIGN_OR_RETURN(engine->detector_, CreateFaceDetector(engine->pack_, options));
  ASSIGN_OR_RETURN(engine->face_check_, HumanFaceCheck::Create(engine->pack_, threads));
  ASSIGN_OR_RETURN(engine->landmarks_, CreateLandmarkDetector(engine->pack_, threads));
  for (const EmbedderSpec& spec : engine->pack_.embedders) {
    ASSIGN_OR_RETURN(auto embedder, CreateFaceEmbedder(spec, threads, config.flip_augment));
    engine->embedders_.push_back(std::move(embedder));
  }
  if (config.anti_spoof) {
    ASSIGN_OR_RETURN(engine->anti_spoof_, CreateAntiSpoof(engine->pack_, threads));
  }
  return engine;
}

Status FaceEngine::AddEmbedding(const cv::Mat& bgr, size_t index, FaceObservation& face) {
  if (index >= embedders_.size())
    return Status::InvalidArgument("the model pack has no embedder " + std::to_string(index));
  if (!face.human) return Status::InvalidArgument("not a human face; nothing to embed");
  FaceEmbedder& embedder = *embedders_[index];
  if (FindEmbedding(face.embeddings, embedder.spec().id)) return Status::Ok();
  ASSIGN_OR_RETURN(cv::Mat aligned, AlignFace(bgr, face.points, embedder.spec().align));
  ASSIGN_OR_RETURN(Embedding v, embedder.Embed(aligned));
  face.embeddings.push_back({embedder.spec().id, std::move(v)});
  return Status::Ok();
}

Result<FaceObservation> FaceEngine::Describe(const cv::Mat& bgr, const Detection& detection,
                                             const AnalyzeOptions& options) {
  FaceObservation face;
  face.box = detection.box;
  face.detector_score = detection.score;
  face.human = true;
  face.human_score = -1;
  if (options.check_human) {
    ASSIGN_OR_RETURN(const HumanFaceVerdict verdict, face_check_->Check(bgr, detection.box));
    face.human = verdict.human;
    face.human_score = verdict.score;
  }
  ASSIGN_OR_RETURN(face.points, landmarks_->Locate(bgr, detection.box));
  ASSIGN_OR_RETURN(cv::Mat aligned, AlignFace(bgr, face.points, pack_.embedders[0].align));
  face.quality = MeasureQuality(aligned, face.box, face.points);
  if (face.human && options.embed != EmbedWith::kNone) {
    // The primary crop is already aligned; embed it without warping again.
    ASSIGN_OR_RETURN(Embedding primary, embedders_[0]->Embed(aligned));
    face.embeddings.push_back({pack_.embedders[0].id, std::move(primary)});
    if (options.embed == EmbedWith::kAll)
      for (size_t i = 1; i < embedders_.size(); ++i) RETURN_IF_ERROR(AddEmbedding(bgr, i, face));
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
  return AlignFace(bgr, face.points, pack_.embedders[0].align);
}

}  // namespace concierge
