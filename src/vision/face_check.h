// The human-face check: a second opinion on every detection before it can
// become a sighting, an enrolment, a training face or a "who is this?"
// question. The first detector has no notion of species; dogs, monkeys and
// clocks fail here. Two stages (models/manifest.json "face_check" and
// "face_verifier"): MediaPipe BlazeFace decides the clear cases in ~2 ms; the
// doubtful middle goes to dlib's CNN face detector (MMOD), which is slower but
// was trained on human faces only. `concierge eval detect` measures both.
#pragma once

#include <memory>

#include <opencv2/core.hpp>

#include "core/status.h"
#include "core/types.h"
#include "vision/model_pack.h"

namespace concierge {

// A second detector asked about one face box.
class FaceBoxScorer {
 public:
  virtual ~FaceBoxScorer() = default;
  // Needs a BGR image and a face box inside it. Returns the detector's
  // confidence for its best face whose centre lies inside the box and whose
  // size agrees with it (the scale is the detector's own). Thread-safe.
  virtual Result<float> Score(const cv::Mat& bgr, const Box& face) = 0;
};

struct HumanFaceVerdict {
  bool human = false;
  float score = 0;  // 0..1; >= 0.5 exactly when human
};

class HumanFaceCheck {
 public:
  // Needs the pack's "face_check" (blazeface) and "face_verifier"
  // (dlib_mmod) models; their manifest entries give the thresholds.
  static Result<std::unique_ptr<HumanFaceCheck>> Create(const ModelPack& pack, int threads);

  // Needs a BGR image and a face box inside it. Thread-safe.
  Result<HumanFaceVerdict> Check(const cv::Mat& bgr, const Box& face);

 private:
  HumanFaceCheck() = default;
  std::unique_ptr<FaceBoxScorer> first_, verifier_;
  float accept_above_ = 0, reject_below_ = 0, verifier_threshold_ = 0;
};

// The square crop `context` times the box's longer side, centred on it, with
// black where it leaves the image. Second-look detectors see the face in it.
cv::Mat SquareContext(const cv::Mat& bgr, const Box& face, float context);

// dlib's MMOD face detector as a FaceBoxScorer (dlib_nets.cc).
Result<std::unique_ptr<FaceBoxScorer>> CreateDlibMmodScorer(const ModelSpec& spec);

}  // namespace concierge
