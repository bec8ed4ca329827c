// A fixture whose tests share one FaceEngine of the installed model pack,
// since loading it takes seconds.
#pragma once

#include <gtest/gtest.h>

#include "core/status.h"
#include "vision/face_engine.h"

namespace concierge::testing {

// Derive a suite's fixture from this. Before the suite runs, engine_ is loaded
// from DefaultModelsDir() when the face data is there (its tests skip
// otherwise); it is null, with engine_status_ saying why, when it did not
// load. A derived SetUp checks REQUIRE_TEST_DATA() and then engine_.
class SharedFaceEngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();

  static inline FaceEngine* engine_ = nullptr;
  static inline Status engine_status_;
};

}  // namespace concierge::testing
