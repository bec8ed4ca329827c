// Reindexing: after a model change (a new manifest, another embedder), every
// face and "not me" example is embedded again from its picture by the models
// now in the pack, and the vectors of other models are dropped. Until then
// such faces take no part in search (FaceCollection::stale_faces).
#pragma once

#include <cstddef>
#include <functional>

#include "core/status.h"
#include "store/face_collection.h"
#include "store/object_store.h"
#include "store/sighting_store.h"
#include "vision/face_engine.h"
#include "vision/image_io.h"

namespace concierge {

struct ReindexOutcome {
  size_t faces = 0;            // faces in the collection
  size_t current = 0;          // already embedded by exactly the pack's models
  size_t reembedded = 0;       // embedded again now
  size_t unreadable = 0;       // picture missing or without a face: left out of search
  size_t negatives_reembedded = 0;
  size_t negatives_dropped = 0;  // their sighting's picture is gone
};

// Called after each face with (done, total).
using ReindexProgress = std::function<void(size_t, size_t)>;

// Needs parts that outlive the call; `faces` must search with `engine`'s
// embedders (CheckCollectionModels) and `sightings` may be null (negatives
// are then dropped rather than re-embedded). Idempotent: a second run finds
// every face current. Faces whose picture is gone stay stale and are counted.
Result<ReindexOutcome> Reindex(FaceEngine& engine, FaceCollection& faces, ObjectStore& objects,
                               SightingStore* sightings, const ImageLimits& limits,
                               const ReindexProgress& progress);

}  // namespace concierge
