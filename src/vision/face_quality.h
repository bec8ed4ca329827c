// Face quality: the measurements behind every "is this face good enough?"
// decision (enrolment, best crop of a visit, asking about a stranger).
#pragma once

#include <string>

#include <opencv2/core.hpp>

#include "core/config.h"
#include "core/types.h"

namespace concierge {

// Needs the aligned 112x112 face, the detection box and its five points.
// Yaw and pitch are estimated from the points against the ArcFace template;
// score in [0,1] combines size, sharpness, pose and exposure.
FaceQuality MeasureQuality(const cv::Mat& aligned_bgr, const Box& box, const FivePoints& points);

// Empty when `q` passes `gate`, else a short reason such as
// "face too small (31 px < 40)". The first failing check is reported.
std::string QualityRejection(const FaceQuality& q, const QualityGate& gate);

}  // namespace concierge
