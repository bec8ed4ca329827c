#include "vision/onnx_model.h"

#include <onnxruntime_cxx_api.h>

#include <opencv2/imgproc.hpp>

namespace concierge {

namespace {

// One runtime environment per process, as ONNX Runtime asks, with one CPU
// memory arena every session shares: each session's own arena would keep its
// largest activations for good (7 MB more at the 100k server's peak,
// BENCHMARKS.md). It grows by what is asked, not to the next power of two.
Ort::Env& Environment() {
  static Ort::Env env = [] {
    Ort::Env created(ORT_LOGGING_LEVEL_ERROR, "concierge");
    const auto memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    constexpr int kSameAsRequested = 1;
    created.CreateAndRegisterAllocator(memory, Ort::ArenaCfg(0, kSameAsRequested, -1, -1));
    return created;
  }();
  return env;
}

}  // namespace

Result<OnnxModel> OnnxModel::Load(const ModelSpec& spec, int threads) {
  if (spec.format != "onnx")
    return Status::FailedPrecondition("model " + spec.path + " is not an ONNX model");
  OnnxModel model;
  model.spec_ = spec;
  try {
    Ort::SessionOptions options;
    options.SetIntraOpNumThreads(std::max(1, threads));
    options.SetInterOpNumThreads(1);
    options.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
    options.AddConfigEntry("session.use_env_allocators", "1");
    model.session_ = std::make_shared<Ort::Session>(Environment(), spec.path.c_str(), options);
    if (model.session_->GetInputCount() != 1)
      return Status::FailedPrecondition("model " + spec.path + " has more than one input");
    const auto shape = model.session_->GetInputTypeInfo(0).GetTensorTypeAndShapeInfo().GetShape();
    if (shape.size() != 4)
      return Status::FailedPrecondition("model " + spec.path + " input is not a 4-d tensor");
    Ort::AllocatorWithDefaultOptions allocator;
    model.input_name_ = model.session_->GetInputNameAllocated(0, allocator).get();
  } catch (const Ort::Exception& e) {
    return Status::FailedPrecondition("cannot load " + spec.path + ": " + e.what());
  }
  return model;
}

std::vector<float> OnnxModel::Prepare(const cv::Mat& image) const {
  const InputSpec& in = spec_.input;
  cv::Mat m;
  if (in.order == "gray") cv::cvtColor(image, m, cv::COLOR_BGR2GRAY);
  else if (in.order == "rgb") cv::cvtColor(image, m, cv::COLOR_BGR2RGB);
  else m = image;
  if (m.cols != in.width || m.rows != in.height)
    cv::resize(m, m, cv::Size(in.width, in.height), 0, 0, cv::INTER_LINEAR);
  const int channels = in.channels();
  auto mean_at = [&](int c) {
    return in.mean.empty() ? 0.0 : in.mean[std::min<size_t>(size_t(c), in.mean.size() - 1)];
  };
  cv::Mat values;  // HWC floats
  m.convertTo(values, CV_32F);
  values -= channels == 1 ? cv::Scalar(mean_at(0)) : cv::Scalar(mean_at(0), mean_at(1), mean_at(2));
  values *= in.scale;
  const size_t plane = size_t(in.width) * size_t(in.height);
  std::vector<float> tensor(plane * size_t(channels));
  if (in.layout == "nhwc" || channels == 1) {
    std::memcpy(tensor.data(), values.ptr<float>(), tensor.size() * sizeof(float));
  } else {
    std::vector<cv::Mat> planes;
    for (int c = 0; c < channels; ++c)
      planes.emplace_back(in.height, in.width, CV_32F, tensor.data() + plane * size_t(c));
    cv::split(values, planes);  // writes straight into the tensor's planes
  }
  return tensor;
}

Result<std::vector<cv::Mat>> OnnxModel::Run(const cv::Mat& image,
                                            const std::vector<std::string>& outputs) const {
  if (image.empty() || image.type() != CV_8UC3)
    return Status::InvalidArgument("model input must be an 8-bit BGR image");
  std::vector<const char*> names;
  for (const auto& logical : outputs) {
    auto it = spec_.outputs.find(logical);
    names.push_back(it == spec_.outputs.end() ? logical.c_str() : it->second.c_str());
  }
  std::vector<float> tensor = Prepare(image);
  const InputSpec& in = spec_.input;
  const std::vector<int64_t> shape =
      in.layout == "nhwc" ? std::vector<int64_t>{1, in.height, in.width, in.channels()}
                          : std::vector<int64_t>{1, in.channels(), in.height, in.width};
  try {
    const auto memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    Ort::Value input = Ort::Value::CreateTensor<float>(memory, tensor.data(), tensor.size(),
                                                       shape.data(), shape.size());
    const char* input_name = input_name_.c_str();
    auto values = session_->Run(Ort::RunOptions{nullptr}, &input_name, &input, 1, names.data(),
                                names.size());
    std::vector<cv::Mat> result;
    for (auto& v : values) {
      const auto info = v.GetTensorTypeAndShapeInfo();
      if (info.GetElementType() != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT)
        return Status::Internal("model " + spec_.path + " has a non-float output");
      std::vector<int> dims;
      for (int64_t d : info.GetShape()) dims.push_back(static_cast<int>(d));
      if (dims.empty()) dims.push_back(1);
      if (dims.size() == 1) dims.insert(dims.begin(), 1);
      result.push_back(cv::Mat(dims, CV_32F, v.GetTensorMutableData<float>()).clone());
    }
    return result;
  } catch (const Ort::Exception& e) {
    return Status::Internal("inference failed in " + spec_.path + ": " + e.what());
  }
}

}  // namespace concierge
