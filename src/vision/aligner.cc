#include "vision/aligner.h"

#include <opencv2/calib3d.hpp>
#include <opencv2/imgproc.hpp>

namespace concierge {

const FivePoints& ArcFaceTemplate() {
  static const FivePoints kTemplate = {{{38.2946f, 51.6963f},
                                        {73.5318f, 51.5014f},
                                        {56.0252f, 71.7366f},
                                        {41.5493f, 92.3655f},
                                        {70.7299f, 92.2041f}}};
  return kTemplate;
}

Result<cv::Mat> SimilarityToTemplate(const FivePoints& points) {
  std::vector<cv::Point2f> src, dst;
  for (size_t i = 0; i < 5; ++i) {
    src.emplace_back(points[i].x, points[i].y);
    dst.emplace_back(ArcFaceTemplate()[i].x, ArcFaceTemplate()[i].y);
  }
  // A huge reprojection threshold makes every point an inlier, so RANSAC's
  // final Levenberg-Marquardt refinement is a plain least-squares fit.
  cv::Mat m = cv::estimateAffinePartial2D(src, dst, cv::noArray(), cv::RANSAC, 1e4, 2000, 0.99, 20);
  if (m.empty()) return Status::InvalidArgument("landmarks are degenerate; cannot align the face");
  return m;
}

Result<cv::Mat> AlignFace(const cv::Mat& bgr, const FivePoints& points) {
  ASSIGN_OR_RETURN(cv::Mat m, SimilarityToTemplate(points));
  cv::Mat aligned;
  cv::warpAffine(bgr, aligned, m, cv::Size(112, 112), cv::INTER_LINEAR, cv::BORDER_CONSTANT);
  return aligned;
}

}  // namespace concierge
