#include "vision/model_pack.h"

#include <filesystem>
#include <fstream>

#include "core/hash.h"

namespace concierge {

namespace fs = std::filesystem;

Result<ModelSpec> ModelPack::Get(const std::string& role) const {
  auto it = models.find(role);
  if (it == models.end())
    return Status::NotFound("model pack '" + name + "' has no '" + role + "' model");
  return it->second;
}

namespace {

// Bumped when code that shapes embeddings changes (alignment, preprocessing),
// so stored vectors are re-made by `concierge reindex`.
constexpr int kRecipeVersion = 1;

Status Malformed(const std::string& what, const std::string& why) {
  return Status::InvalidArgument("model manifest entry '" + what + "' is malformed: " + why);
}

Result<ModelSpec> ParseSpec(const std::string& role, const nlohmann::json& j,
                            const std::string& dir) {
  ModelSpec spec;
  spec.role = role;
  try {
    spec.name = j.value("name", role);
    spec.format = j.value("format", "onnx");
    spec.adapter = j.at("adapter").get<std::string>();
    spec.path = (fs::path(dir) / j.at("file").get<std::string>()).string();
    spec.sha256 = j.at("sha256").get<std::string>();
    const auto& in = j.at("input");
    spec.input.width = in.at("width").get<int>();
    spec.input.height = in.at("height").get<int>();
    spec.input.layout = in.value("layout", "nchw");
    spec.input.order = in.value("order", "bgr");
    spec.input.mean = in.value("mean", std::vector<double>{0});
    spec.input.scale = in.value("scale", 1.0);
    spec.outputs = j.value("outputs", std::map<std::string, std::string>{});
    spec.extra = j;
  } catch (const nlohmann::json::exception& e) {
    return Malformed(role, e.what());
  }
  if (spec.format != "onnx" && spec.format != "dlib")
    return Malformed(role, "format must be \"onnx\" or \"dlib\", not \"" + spec.format + "\"");
  if (spec.input.layout != "nchw" && spec.input.layout != "nhwc")
    return Malformed(role, "input.layout must be \"nchw\" or \"nhwc\"");
  if (spec.input.order != "bgr" && spec.input.order != "rgb" && spec.input.order != "gray")
    return Malformed(role, "input.order must be \"bgr\", \"rgb\" or \"gray\"");
  if (spec.input.width < 1 || spec.input.height < 1 || spec.input.width > 4096 ||
      spec.input.height > 4096)
    return Malformed(role, "input width and height must be 1..4096");
  return spec;
}

Status CheckFile(const ModelSpec& spec) {
  if (!fs::exists(spec.path))
    return Status::FailedPrecondition("model file " + spec.path +
                                      " is missing (run scripts/fetch-models.sh)");
  ASSIGN_OR_RETURN(std::string actual, Sha256HexOfFile(spec.path));
  if (actual != spec.sha256)
    return Status::FailedPrecondition("model file " + spec.path + " has sha256 " + actual +
                                      ", manifest pins " + spec.sha256 +
                                      " (run scripts/fetch-models.sh)");
  return Status::Ok();
}

Result<EmbedderSpec> ParseEmbedder(const nlohmann::json& j, const std::string& dir,
                                   const ModelSpec& landmarks) {
  EmbedderSpec e;
  ASSIGN_OR_RETURN(e.model, ParseSpec("embedder", j, dir));
  const std::string& name = e.model.name;
  try {
    e.dimensions = j.at("dimensions").get<int>();
    const auto& align = j.at("align");
    e.align.width = align.at("width").get<int>();
    e.align.height = align.at("height").get<int>();
    for (const auto& p : align.at("template"))
      e.align.template_points.push_back({p.at(0).get<float>(), p.at(1).get<float>()});
    const auto& impostor = j.at("impostor");
    e.impostor.mean = impostor.at("mean").get<float>();
    e.impostor.sd = impostor.at("sd").get<float>();
    e.weight = j.at("weight").get<float>();
  } catch (const nlohmann::json::exception& ex) {
    return Malformed(name, ex.what());
  }
  if (e.dimensions < 1 || e.dimensions > 65536) return Malformed(name, "dimensions must be 1..65536");
  if (!(e.impostor.sd > 0) || !(e.weight > 0)) return Malformed(name, "impostor.sd and weight must be > 0");
  if (e.align.width < 8 || e.align.height < 8) return Malformed(name, "align size is too small");
  const size_t points = landmarks.extra.value("points", size_t{5});
  if (e.align.template_points.size() != points)
    return Malformed(name, "align.template has " + std::to_string(e.align.template_points.size()) +
                               " points, the landmark model gives " + std::to_string(points));
  // The recipe: anything that changes the vectors changes the id.
  const nlohmann::json& lm = landmarks.extra;
  const nlohmann::json recipe = {{"version", kRecipeVersion},
                                 {"model", e.model.sha256},
                                 {"input", j.at("input")},
                                 {"align", j.at("align")},
                                 {"landmarks", {lm.value("sha256", ""), lm.value("adapter", ""),
                                                lm.value("input", nlohmann::json()),
                                                lm.value("refine", 0)}}};
  e.id = name + "@" + Sha256Hex(recipe.dump()).substr(0, 12);
  return e;
}

}  // namespace

Result<ModelPack> LoadModelPack(const std::string& dir) {
  const std::string manifest_path = (fs::path(dir) / "manifest.json").string();
  std::ifstream in(manifest_path);
  if (!in)
    return Status::FailedPrecondition("no model manifest at " + manifest_path +
                                      " (run scripts/fetch-models.sh)");
  const auto doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.contains("models") || !doc["models"].is_object() ||
      !doc.contains("embedders") || !doc["embedders"].is_array() || doc["embedders"].empty())
    return Status::InvalidArgument("model manifest " + manifest_path +
                                   " is malformed (needs \"models\" and \"embedders\")");
  ModelPack pack;
  pack.name = doc.value("name", dir);
  pack.dir = dir;
  for (const auto& [role, j] : doc["models"].items()) {
    ASSIGN_OR_RETURN(ModelSpec spec, ParseSpec(role, j, dir));
    RETURN_IF_ERROR(CheckFile(spec));
    pack.models.emplace(role, std::move(spec));
  }
  try {
    const auto& c = doc.at("calibration");
    auto tail = [](const nlohmann::json& t) {
      return ImpostorPrior{t.at("mean").get<float>(), t.at("sd").get<float>()};
    };
    pack.calibration.primary_tail = tail(c.at("primary_tail"));
    pack.calibration.fused_tail = tail(c.at("fused_tail"));
    pack.calibration.prior_pairs = c.at("prior_pairs").get<double>();
    pack.calibration.band_below = c.at("band").at(0).get<float>();
    pack.calibration.band_above = c.at("band").at(1).get<float>();
    pack.calibration.more_views_below = c.at("more_views_below").get<float>();
  } catch (const nlohmann::json::exception& e) {
    return Malformed("calibration", e.what());
  }
  if (!(pack.calibration.primary_tail.sd > 0) || !(pack.calibration.fused_tail.sd > 0) ||
      !(pack.calibration.prior_pairs >= 0))
    return Malformed("calibration", "tail sd must be > 0 and prior_pairs >= 0");
  ASSIGN_OR_RETURN(const ModelSpec landmarks, pack.Get("landmarks"));
  for (const auto& j : doc["embedders"]) {
    ASSIGN_OR_RETURN(EmbedderSpec e, ParseEmbedder(j, dir, landmarks));
    RETURN_IF_ERROR(CheckFile(e.model));
    for (const auto& other : pack.embedders)
      if (other.model.name == e.model.name) return Malformed(e.model.name, "duplicate name");
    pack.embedders.push_back(std::move(e));
  }
  return pack;
}

}  // namespace concierge
