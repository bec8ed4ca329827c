// Similarity alignment: landmark points mapped onto an embedder's template
// (models/manifest.json "align"), so each embedder sees the face framed as it
// was trained.
#pragma once

#include <opencv2/core.hpp>

#include "core/status.h"
#include "core/types.h"
#include "vision/model_pack.h"

namespace concierge {

// The ArcFace reference points for a 112x112 crop (for pose estimates and as
// the usual template of 112x112 embedders).
const FivePoints& ArcFaceTemplate();

// Least-squares similarity transform (rotation, uniform scale, shift) taking
// `points` onto `target`, as a 2x3 CV_64F matrix. Needs as many points as
// target points (at least 2); kInvalidArgument when they are degenerate.
Result<cv::Mat> SimilarityTransform(const std::vector<Point>& points,
                                    const std::vector<Point>& target);

// Warps `bgr` into the align.width x align.height crop that maps `points`
// onto align.template_points. A large face is first halved (pyrDown) until
// the warp shrinks it by at most 2x, so the crop is not aliased.
Result<cv::Mat> AlignFace(const cv::Mat& bgr, const FivePoints& points, const AlignSpec& align);

}  // namespace concierge
