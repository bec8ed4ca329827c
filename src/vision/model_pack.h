// The model-pack manifest: which ONNX file does which job, with its pinned
// sha256 and preprocessing. A different pack (YuNet+SFace, SCRFD+ArcFace, ...)
// plugs in with its own manifest plus at most one adapter class per stage.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace concierge {

// How to turn pixels into the network's input tensor.
struct InputSpec {
  int width = 0;
  int height = 0;
  int channels = 3;
  std::string order = "bgr";     // "bgr", "rgb" or "gray"
  std::vector<double> mean{0};   // subtracted per channel before scaling
  double scale = 1.0;            // multiplied after subtracting the mean
};

struct ModelSpec {
  std::string role;              // "detector", "landmarks", "embedder", "anti_spoof"
  std::string adapter;           // which adapter class reads this model
  std::string path;              // absolute path of the ONNX file
  std::string sha256;
  bool optional = false;
  InputSpec input;
  std::map<std::string, std::string> outputs;  // logical name -> graph output name
  nlohmann::json extra;          // adapter-specific keys (dimensions, context, ...)
};

struct ModelPack {
  std::string name;
  std::string dir;
  std::map<std::string, ModelSpec> models;  // by role

  // The spec for `role`, or kNotFound naming the role and the manifest.
  Result<ModelSpec> Get(const std::string& role) const;
};

// Reads <dir>/manifest.json and checks each listed file's sha256. Needs a
// readable manifest; guarantees every returned required model exists and
// matches its pinned hash (kFailedPrecondition naming the file otherwise, with
// a hint to run scripts/fetch-models.sh). Optional models that are absent are
// left out.
Result<ModelPack> LoadModelPack(const std::string& dir);

// Hex sha256 of a file's contents; kIoError if unreadable.
Result<std::string> Sha256File(const std::string& path);

}  // namespace concierge
