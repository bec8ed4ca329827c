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

Result<std::string> Sha256File(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot read " + path);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return Sha256Hex(bytes);
}

namespace {

Result<ModelSpec> ParseSpec(const std::string& role, const nlohmann::json& j,
                            const std::string& dir) {
  ModelSpec spec;
  spec.role = role;
  try {
    spec.adapter = j.at("adapter").get<std::string>();
    spec.path = (fs::path(dir) / j.at("file").get<std::string>()).string();
    spec.sha256 = j.at("sha256").get<std::string>();
    spec.optional = j.value("optional", false);
    const auto& in = j.at("input");
    spec.input.width = in.at("width").get<int>();
    spec.input.height = in.at("height").get<int>();
    spec.input.channels = in.value("channels", 3);
    spec.input.order = in.value("order", "bgr");
    spec.input.mean = in.value("mean", std::vector<double>{0});
    spec.input.scale = in.value("scale", 1.0);
    spec.outputs = j.value("outputs", std::map<std::string, std::string>{});
    spec.extra = j;
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument("manifest entry '" + role + "' is malformed: " + e.what());
  }
  return spec;
}

}  // namespace

Result<ModelPack> LoadModelPack(const std::string& dir) {
  const std::string manifest_path = (fs::path(dir) / "manifest.json").string();
  std::ifstream in(manifest_path);
  if (!in)
    return Status::FailedPrecondition("no model manifest at " + manifest_path +
                                      " (run scripts/fetch-models.sh)");
  const auto doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.contains("models") || !doc["models"].is_object())
    return Status::InvalidArgument("model manifest " + manifest_path + " is malformed");
  ModelPack pack;
  pack.name = doc.value("name", dir);
  pack.dir = dir;
  for (const auto& [role, j] : doc["models"].items()) {
    ASSIGN_OR_RETURN(ModelSpec spec, ParseSpec(role, j, dir));
    if (!fs::exists(spec.path)) {
      if (spec.optional) continue;
      return Status::FailedPrecondition("model file " + spec.path +
                                        " is missing (run scripts/fetch-models.sh)");
    }
    ASSIGN_OR_RETURN(std::string actual, Sha256File(spec.path));
    if (actual != spec.sha256)
      return Status::FailedPrecondition("model file " + spec.path + " has sha256 " + actual +
                                        ", manifest pins " + spec.sha256);
    pack.models.emplace(role, std::move(spec));
  }
  return pack;
}

}  // namespace concierge
