#include "vision/aligner.h"

#include <cmath>

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

Result<cv::Mat> SimilarityTransform(const std::vector<Point>& points,
                                    const std::vector<Point>& target) {
  if (points.size() != target.size() || points.size() < 2)
    return Status::InvalidArgument("alignment needs as many landmarks as template points");
  std::vector<cv::Point2f> src, dst;
  for (size_t i = 0; i < points.size(); ++i) {
    src.emplace_back(points[i].x, points[i].y);
    dst.emplace_back(target[i].x, target[i].y);
  }
  // A huge reprojection threshold makes every point an inlier, so RANSAC's
  // final Levenberg-Marquardt refinement is a plain least-squares fit.
  cv::Mat m = cv::estimateAffinePartial2D(src, dst, cv::noArray(), cv::RANSAC, 1e4, 2000, 0.99, 20);
  if (m.empty()) return Status::InvalidArgument("landmarks are degenerate; cannot align the face");
  return m;
}

Result<cv::Mat> AlignFace(const cv::Mat& bgr, const FivePoints& points, const AlignSpec& align) {
  ASSIGN_OR_RETURN(cv::Mat m, SimilarityTransform({points.begin(), points.end()},
                                                  align.template_points));
  cv::Mat source = bgr;
  double scale = std::hypot(m.at<double>(0, 0), m.at<double>(0, 1));
  while (scale < 0.5 && source.cols >= 4 && source.rows >= 4) {
    cv::Mat half;
    cv::pyrDown(source, half);
    source = half;
    m(cv::Rect(0, 0, 2, 2)) *= 2.0;
    scale *= 2;
  }
  cv::Mat aligned;
  cv::warpAffine(source, aligned, m, cv::Size(align.width, align.height), cv::INTER_LINEAR,
                 cv::BORDER_CONSTANT);
  return aligned;
}

}  // namespace concierge
