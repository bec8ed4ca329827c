// One ONNX network run through ONNX Runtime (CPU), with the manifest's
// preprocessing. All ONNX adapters use it, so layout, colour order, mean and
// scale live in one place.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/status.h"
#include "vision/model_pack.h"

namespace Ort {
struct Session;
}

namespace concierge {

class OnnxModel {
 public:
  // Loads spec.path with `threads` intra-op threads (>= 1). Needs a verified
  // spec (LoadModelPack) of format "onnx"; kFailedPrecondition if ONNX Runtime
  // cannot load the graph or its input is not one 4-d float tensor.
  static Result<OnnxModel> Load(const ModelSpec& spec, int threads);

  // Runs the net on one 8-bit BGR image of any size (resized to the input
  // size) and returns the outputs named by the logical `outputs` keys, in that
  // order, as float Mats shaped like the tensors. Thread-safe.
  Result<std::vector<cv::Mat>> Run(const cv::Mat& image, const std::vector<std::string>& outputs) const;

  const ModelSpec& spec() const { return spec_; }

 private:
  OnnxModel() = default;
  // The input tensor's values in the manifest's layout, order, mean and scale.
  std::vector<float> Prepare(const cv::Mat& image) const;

  ModelSpec spec_;
  std::shared_ptr<Ort::Session> session_;
  std::string input_name_;
};

}  // namespace concierge
