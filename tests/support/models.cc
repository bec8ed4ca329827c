#include "support/models.h"

#include <cstdio>
#include <cstdlib>

#include "core/config.h"
#include "pipeline/matcher.h"
#include "vision/model_pack.h"

namespace concierge::testing {

std::vector<VectorSpace> ModelSpaces() {
  static const std::vector<VectorSpace> spaces = [] {
    auto pack = LoadModelPack(DefaultModelsDir());
    if (!pack.ok()) {
      std::fprintf(stderr, "model pack: %s\n", pack.status().ToString().c_str());
      std::abort();
    }
    return SpacesOf(pack->embedders);
  }();
  return spaces;
}

Embedding PrimaryOf(const Descriptor& d) {
  const Embedding* v = FindEmbedding(d, ModelSpaces().front().model);
  return v ? *v : Embedding{};
}

}  // namespace concierge::testing
