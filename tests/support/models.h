// The model pack as tests meet it: the face collection's models, the primary
// model's vector of a face, and a person enrolled from a photo.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"
#include "core/types.h"
#include "store/face_collection.h"
#include "store/face_repository.h"

namespace concierge::testing {

// The vector spaces a collection needs for the installed model pack (every
// embedder, primary first). Aborts the test program when the pack is missing.
std::vector<VectorSpace> ModelSpaces();

// The primary model's vector of `d` (empty if it has none).
Embedding PrimaryOf(const Descriptor& d);

// Adds person `person` (named after the id, chat user `external_id`) to
// `faces` with the one face of data-set `photo`, embedded by every model of a
// FaceEngine made from `vision`. Fails the test when that cannot be done.
void EnrollPhoto(FaceCollection& faces, const VisionConfig& vision, const std::string& person,
                 const std::string& external_id, const std::string& photo);

}  // namespace concierge::testing
