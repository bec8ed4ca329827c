// The model-pack manifest (models/manifest.json, cached with the models by
// scripts/fetch-models.sh): which file does which job, with its pinned sha256,
// format, input layout and preprocessing, and for each embedder the alignment
// template and crop size. A candidate model is measured by editing the
// manifest; code changes only for a new adapter (output decoding).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "core/types.h"

namespace concierge {

// How to turn pixels into the network's input tensor.
struct InputSpec {
  int width = 0;
  int height = 0;
  std::string layout = "nchw";   // "nchw" or "nhwc"
  std::string order = "bgr";     // "bgr", "rgb" or "gray"
  std::vector<double> mean{0};   // subtracted per channel before scaling
  double scale = 1.0;            // multiplied after subtracting the mean
  int channels() const { return order == "gray" ? 1 : 3; }
};

// Where an embedder wants the face: the landmark points (in the order the
// pack's landmark model gives them) mapped by a similarity transform onto
// `template_points` of a width x height crop.
struct AlignSpec {
  int width = 0;
  int height = 0;
  std::vector<Point> template_points;
};

struct ModelSpec {
  std::string role;              // "detector", "face_check", "landmarks", "anti_spoof", "embedder"
  std::string name;              // embedders: the manifest's name; others: the role
  std::string format = "onnx";   // "onnx" (ONNX Runtime) or "dlib" (dlib's serialised nets)
  std::string adapter;           // which adapter class reads this model
  std::string path;              // absolute path of the model file
  std::string sha256;
  InputSpec input;
  std::map<std::string, std::string> outputs;  // logical name -> graph output name
  nlohmann::json extra;          // the whole manifest entry, for adapter-specific keys
};

// How a model's cosine scores between different people are distributed
// (measured on LFW View 1, BENCHMARKS.md): the prior of score normalisation
// until a site's gallery says more.
struct ImpostorPrior {
  float mean = 0;
  float sd = 0.1f;
};

// One embedder: a model plus the recipe that turns a face into its vector.
struct EmbedderSpec {
  ModelSpec model;
  int dimensions = 0;
  AlignSpec align;
  ImpostorPrior impostor;
  float weight = 1;  // its share of the fused score
  // Stable id of everything that shapes the vectors (file hash, input,
  // alignment, landmark model): "<name>@<12 hex>". Stored with every
  // embedding, so vectors of different recipes are never compared.
  std::string id;
};

// What the match threshold is calibrated from before a site's gallery is big
// enough to say (models/manifest.json "calibration"): Gaussians fitted to the
// upper tail (99th to 99.9th percentile) of stranger-vs-person scores on a
// reference gallery, for the primary cosine and for the fused score.
struct CalibrationPrior {
  ImpostorPrior primary_tail;
  ImpostorPrior fused_tail;
  double prior_pairs = 20000;  // how many gallery pairs the prior weighs as
  // Primary cosines this far below or above the primary threshold ask the
  // other embedders (the second opinion); outside, the primary decides alone.
  float band_below = 0.06f;
  float band_above = 0.06f;
  // Primary cosines this far below the threshold look at the track's other
  // views before deciding.
  float more_views_below = 0.15f;
};

struct ModelPack {
  std::string name;
  std::string dir;
  std::map<std::string, ModelSpec> models;  // by role
  std::vector<EmbedderSpec> embedders;      // the first is the primary one
  CalibrationPrior calibration;

  // The spec for `role`, or kNotFound naming the role and the pack.
  Result<ModelSpec> Get(const std::string& role) const;
};

// Reads <dir>/manifest.json and checks each listed model's sha256. Needs a
// readable manifest; guarantees every model exists and matches its pinned hash
// (kFailedPrecondition naming the file otherwise, with a hint to run
// scripts/fetch-models.sh), at least one embedder, and alignment templates
// with as many points as the landmark model gives.
Result<ModelPack> LoadModelPack(const std::string& dir);

}  // namespace concierge
