#include "support/shared_face_engine.h"

#include "core/config.h"
#include "support/test_env.h"

namespace concierge::testing {

void SharedFaceEngineTest::SetUpTestSuite() {
  if (!HaveTestData()) return;
  VisionConfig vision;
  vision.models_dir = DefaultModelsDir();
  auto engine = FaceEngine::Create(vision);
  engine_status_ = engine.status();
  if (engine.ok()) engine_ = std::move(*engine).release();
}

void SharedFaceEngineTest::TearDownTestSuite() {
  delete engine_;
  engine_ = nullptr;
}

}  // namespace concierge::testing
