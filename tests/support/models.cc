#include "support/models.h"

#include <cstdio>
#include <cstdlib>

#include <gtest/gtest.h>

#include "core/config.h"
#include "pipeline/matcher.h"
#include "support/test_env.h"
#include "vision/face_engine.h"
#include "vision/image_io.h"
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

void EnrollPhoto(FaceCollection& faces, const VisionConfig& vision, const std::string& person,
                 const std::string& external_id, const std::string& photo) {
  auto engine = FaceEngine::Create(vision);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  auto image = ReadImageFile(DataPath(photo), {});
  ASSERT_TRUE(image.ok());
  auto found = (*engine)->Analyze(*image, {.embed = EmbedWith::kAll, .anti_spoof = false});
  ASSERT_TRUE(found.ok() && found->size() == 1u);
  ASSERT_OK(faces.AddPerson({person, person, external_id, 0}));
  FaceRecord face;
  face.person_id = person;
  face.embeddings = (*found)[0].embeddings;
  ASSERT_TRUE(faces.AddFace(face).ok());
}

}  // namespace concierge::testing
