#include "vision/onnx_model.h"

#include <opencv2/imgproc.hpp>

namespace concierge {

Result<OnnxModel> OnnxModel::Load(const ModelSpec& spec) {
  OnnxModel model;
  model.spec_ = spec;
  try {
    model.net_ = cv::dnn::readNetFromONNX(spec.path);
  } catch (const cv::Exception& e) {
    return Status::FailedPrecondition("cannot load " + spec.path + ": " + e.what());
  }
  if (model.net_.empty()) return Status::FailedPrecondition("cannot load " + spec.path);
  model.net_.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  model.net_.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  return model;
}

cv::Mat OnnxModel::MakeBlob(const std::vector<cv::Mat>& images) const {
  const InputSpec& in = spec_.input;
  const cv::Size size(in.width, in.height);
  std::vector<cv::Mat> prepared;
  prepared.reserve(images.size());
  for (const cv::Mat& image : images) {
    cv::Mat m = image;
    if (in.order == "gray" && m.channels() == 3) cv::cvtColor(m, m, cv::COLOR_BGR2GRAY);
    prepared.push_back(m);
  }
  auto mean_at = [&](size_t i) { return in.mean.empty() ? 0.0 : in.mean[std::min(i, in.mean.size() - 1)]; };
  return cv::dnn::blobFromImages(prepared, in.scale, size,
                                 cv::Scalar(mean_at(0), mean_at(1), mean_at(2)),
                                 /*swapRB=*/in.order == "rgb", /*crop=*/false, CV_32F);
}

Result<std::vector<cv::Mat>> OnnxModel::Run(const std::vector<cv::Mat>& images,
                                            const std::vector<std::string>& outputs) {
  if (images.empty()) return std::vector<cv::Mat>{};
  std::vector<cv::String> names;
  for (const auto& logical : outputs) {
    auto it = spec_.outputs.find(logical);
    names.push_back(it == spec_.outputs.end() ? logical : it->second);
  }
  const cv::Mat blob = MakeBlob(images);
  std::vector<cv::Mat> result;
  try {
    std::lock_guard<std::mutex> lock(*mu_);
    net_.setInput(blob);
    net_.forward(result, names);
  } catch (const cv::Exception& e) {
    return Status::Internal("inference failed in " + spec_.path + ": " + e.what());
  }
  for (auto& m : result) m = m.clone();  // the net reuses its buffers on the next call
  return result;
}

}  // namespace concierge
