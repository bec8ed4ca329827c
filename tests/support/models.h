// The model pack as tests meet it: the face collection's models, and the
// primary model's vector of a face.
#pragma once

#include <vector>

#include "core/types.h"
#include "store/face_repository.h"

namespace concierge::testing {

// The vector spaces a collection needs for the installed model pack (every
// embedder, primary first). Aborts the test program when the pack is missing.
std::vector<VectorSpace> ModelSpaces();

// The primary model's vector of `d` (empty if it has none).
Embedding PrimaryOf(const Descriptor& d);

}  // namespace concierge::testing
