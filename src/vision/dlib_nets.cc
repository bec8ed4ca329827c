// dlib's networks from the model pack: the face recognition ResNet
// (dlib_face_recognition_resnet_model_v1.dat) and the MMOD CNN face detector
// (mmod_human_face_detector.dat). Each network type must match the serialised
// one exactly, as in dlib's dnn_face_recognition_ex.cpp and
// dnn_mmod_face_detection_ex.cpp. Kept in one file: dlib's network templates
// are slow to compile. dlib nets keep their activations, so each call holds
// the net's mutex.
#include <dlib/dnn.h>
#include <dlib/opencv.h>

#include <mutex>

#include <opencv2/imgproc.hpp>

#include "vision/embedder.h"
#include "vision/face_check.h"

namespace concierge {

namespace {

using namespace dlib;  // the network definition reads as dlib's example does

template <template <int, template <typename> class, int, typename> class block, int N,
          template <typename> class BN, typename SUBNET>
using residual = add_prev1<block<N, BN, 1, tag1<SUBNET>>>;
template <template <int, template <typename> class, int, typename> class block, int N,
          template <typename> class BN, typename SUBNET>
using residual_down = add_prev2<avg_pool<2, 2, 2, 2, skip1<tag2<block<N, BN, 2, tag1<SUBNET>>>>>>;
template <int N, template <typename> class BN, int stride, typename SUBNET>
using block = BN<con<N, 3, 3, 1, 1, relu<BN<con<N, 3, 3, stride, stride, SUBNET>>>>>;
template <int N, typename SUBNET>
using ares = relu<residual<block, N, affine, SUBNET>>;
template <int N, typename SUBNET>
using ares_down = relu<residual_down<block, N, affine, SUBNET>>;
template <typename SUBNET> using alevel0 = ares_down<256, SUBNET>;
template <typename SUBNET> using alevel1 = ares<256, ares<256, ares_down<256, SUBNET>>>;
template <typename SUBNET> using alevel2 = ares<128, ares<128, ares_down<128, SUBNET>>>;
template <typename SUBNET> using alevel3 = ares<64, ares<64, ares<64, ares_down<64, SUBNET>>>>;
template <typename SUBNET> using alevel4 = ares<32, ares<32, ares<32, SUBNET>>>;
using ResNet = loss_metric<fc_no_bias<128, avg_pool_everything<alevel0<alevel1<alevel2<alevel3<
    alevel4<max_pool<3, 3, 2, 2, relu<affine<con<32, 7, 7, 2, 2, input_rgb_image_sized<150>>>>>>>>>>>>>;

template <long num_filters, typename SUBNET>
using con5d = con<num_filters, 5, 5, 2, 2, SUBNET>;
template <long num_filters, typename SUBNET>
using con5 = con<num_filters, 5, 5, 1, 1, SUBNET>;
template <typename SUBNET>
using downsampler = relu<affine<con5d<32, relu<affine<con5d<32, relu<affine<con5d<16, SUBNET>>>>>>>>>;
template <typename SUBNET> using rcon5 = relu<affine<con5<45, SUBNET>>>;
using Mmod = loss_mmod<con<1, 9, 9, 1, 1, rcon5<rcon5<rcon5<downsampler<
    input_rgb_image_pyramid<pyramid_down<6>>>>>>>>;

template <typename Net>
Status Deserialize(const std::string& path, Net& net) {
  try {
    dlib::deserialize(path) >> net;
  } catch (const std::exception& e) {
    return Status::FailedPrecondition("cannot load " + path + ": " + e.what());
  }
  return Status::Ok();
}

matrix<rgb_pixel> ToDlib(const cv::Mat& bgr) {
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  matrix<rgb_pixel> m;
  assign_image(m, cv_image<rgb_pixel>(rgb));
  return m;
}

class DlibResNetEmbedder : public FaceEmbedder {
 public:
  using FaceEmbedder::FaceEmbedder;

  Status Load() { return Deserialize(spec().model.path, net_); }

  Result<Embedding> Embed(const cv::Mat& aligned) override {
    if (aligned.cols != 150 || aligned.rows != 150 || aligned.type() != CV_8UC3)
      return Status::InvalidArgument("dlib's ResNet needs a 150x150 BGR face");
    std::vector<matrix<rgb_pixel>> faces{ToDlib(aligned)};
    std::vector<matrix<float, 0, 1>> out;
    {
      std::lock_guard<std::mutex> lock(mu_);  // the net keeps its activations
      out = net_(faces);
    }
    Embedding v(out[0].begin(), out[0].end());
    L2Normalize(v);
    return v;
  }

 private:
  std::mutex mu_;
  ResNet net_;
};

// The face is shown at input.width x input.height pixels in its square
// context; MMOD reports every window above `floor` with its margin.
class MmodScorer : public FaceBoxScorer {
 public:
  explicit MmodScorer(const ModelSpec& spec)
      : spec_(spec), context_(spec.extra.value("context", 1.6f)) {}

  Status Load() { return Deserialize(spec_.path, net_); }

  Result<float> Score(const cv::Mat& bgr, const Box& face) override {
    if (face.w < 2 || face.h < 2) return Status::InvalidArgument("face box is empty");
    const cv::Mat square = SquareContext(bgr, face, context_);
    cv::Mat scaled;
    const int size = spec_.input.width;
    cv::resize(square, scaled, cv::Size(size, size), 0, 0, cv::INTER_AREA);
    const matrix<rgb_pixel> image = ToDlib(scaled);
    constexpr double kFloor = -3.0;  // reports windows far below MMOD's own threshold too
    std::vector<mmod_rect> found;
    {
      std::lock_guard<std::mutex> lock(mu_);
      found = net_.process(image, kFloor);
    }
    const double side = std::max(face.w, face.h) * context_;
    const double bw = face.w / side, bh = face.h / side;
    double best = kFloor;
    for (const auto& r : found) {
      const double cx = (r.rect.left() + r.rect.right()) / 2.0 / size;
      const double cy = (r.rect.top() + r.rect.bottom()) / 2.0 / size;
      if (std::fabs(cx - 0.5) < bw / 2 && std::fabs(cy - 0.5) < bh / 2)
        best = std::max(best, r.detection_confidence);
    }
    return static_cast<float>(best);
  }

 private:
  ModelSpec spec_;
  float context_;
  std::mutex mu_;
  Mmod net_;
};

}  // namespace

Result<std::unique_ptr<FaceBoxScorer>> CreateDlibMmodScorer(const ModelSpec& spec) {
  if (spec.format != "dlib") return Status::InvalidArgument(spec.name + ": dlib_mmod needs format dlib");
  auto scorer = std::make_unique<MmodScorer>(spec);
  RETURN_IF_ERROR(scorer->Load());
  return std::unique_ptr<FaceBoxScorer>(std::move(scorer));
}

Result<std::unique_ptr<FaceEmbedder>> CreateDlibResNetEmbedder(const EmbedderSpec& spec) {
  if (spec.model.format != "dlib" || spec.dimensions != 128 || spec.align.width != 150 ||
      spec.align.height != 150)
    return Status::InvalidArgument("embedder " + spec.model.name +
                                   ": dlib_resnet needs format dlib, 128 dimensions, 150x150");
  auto embedder = std::make_unique<DlibResNetEmbedder>(spec);
  RETURN_IF_ERROR(embedder->Load());
  return std::unique_ptr<FaceEmbedder>(std::move(embedder));
}

}  // namespace concierge
