// Five-point similarity alignment to the standard 112x112 ArcFace template.
#pragma once

#include <opencv2/core.hpp>

#include "core/status.h"
#include "core/types.h"

namespace concierge {

// The ArcFace reference points for a 112x112 crop.
const FivePoints& ArcFaceTemplate();

// Least-squares similarity transform (rotation, uniform scale, shift) taking
// `points` onto the template, as a 2x3 CV_64F matrix. kInvalidArgument when
// the points are degenerate (e.g. all equal).
Result<cv::Mat> SimilarityToTemplate(const FivePoints& points);

// Warps `bgr` into the aligned 112x112 face for `points`.
Result<cv::Mat> AlignFace(const cv::Mat& bgr, const FivePoints& points);

}  // namespace concierge
