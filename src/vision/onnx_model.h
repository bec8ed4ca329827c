// One ONNX network run through OpenCV dnn, with the manifest's preprocessing.
// All adapters use it, so colour order, mean and scale live in one place.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include "core/status.h"
#include "vision/model_pack.h"

namespace concierge {

class OnnxModel {
 public:
  // Loads spec.path. Needs a verified spec (LoadModelPack); kFailedPrecondition
  // if OpenCV cannot parse the graph.
  static Result<OnnxModel> Load(const ModelSpec& spec);

  // Runs the net on `images` (8-bit BGR, any size: resized to the input size)
  // as one batch and returns the outputs named by the logical `outputs` keys,
  // in that order. Thread-safe: calls on one model are serialised.
  Result<std::vector<cv::Mat>> Run(const std::vector<cv::Mat>& images,
                                   const std::vector<std::string>& outputs);

  const ModelSpec& spec() const { return spec_; }

 private:
  OnnxModel() = default;
  cv::Mat MakeBlob(const std::vector<cv::Mat>& images) const;

  ModelSpec spec_;
  cv::dnn::Net net_;
  std::unique_ptr<std::mutex> mu_ = std::make_unique<std::mutex>();
};

}  // namespace concierge
