// How Concierge's faces, scores and quality look in Rekognition's shapes:
// the similarity scale, FaceId and ImageId, QualityFilter bars, unindexed
// reasons, BoundingBox and FaceDetail. Pure functions (docs/rekognition.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/status.h"
#include "core/types.h"

namespace concierge {

// The one mapping from a cosine score to Rekognition's 0-100 Similarity. Needs
// the match threshold in force (a cosine in (0, 1)). Continuous and
// increasing, in two straight pieces:
//   cosine <= 0 -> 0;  0..threshold -> 0..80;  threshold..1 -> 80..100.
// So FaceMatchThreshold 80 (AWS's default) accepts exactly what the cameras
// accept, and 70 accepts cosines from 7/8 of the threshold (0.464 for 0.53),
// a looser point with more false welcomes (BENCHMARKS.md).
double SimilarityPercent(float cosine, float threshold);

// The FaceId of face row `row` (> 0): "cc000000-0000-4000-8000-<row as 12 hex digits>".
std::string FaceIdForRow(int64_t row);
// The row a FaceIdForRow string names; nullopt for any other string.
std::optional<int64_t> RowFromFaceId(std::string_view face_id);
// A UUID-shaped ImageId from the image's bytes (the first 128 bits of their
// sha256), so the same picture always has the same ImageId.
std::string ImageIdFor(std::string_view bytes);

// What a QualityFilter value asks of a face: our quality gate plus a lowest
// detector score.
struct QualityBar {
  QualityGate gate;
  float min_detector_score = 0;
};

// The bar for a QualityFilter value: nullopt for "NONE", the configured gate
// for "AUTO" and "MEDIUM", a looser one for "LOW" and a stricter one (also
// needing a detector score of 0.9) for "HIGH"; see docs/rekognition.md.
std::optional<QualityBar> BarForFilter(const std::string& filter, const QualityGate& configured);

// Rekognition's reasons (LOW_CONFIDENCE, SMALL_BOUNDING_BOX, LOW_SHARPNESS,
// EXTREME_POSE, LOW_BRIGHTNESS) why `face` fails `bar`: every failing check is
// named; none when it passes or there is no bar.
std::vector<std::string> QualityReasons(const FaceObservation& face,
                                        const std::optional<QualityBar>& bar);

// {"Width","Height","Left","Top"} as ratios of a width x height image.
nlohmann::json BoundingBoxJson(const Box& box, int width, int height);

// FaceDetail with the DEFAULT attributes: BoundingBox, Landmarks (eyeLeft,
// eyeRight, nose, mouthLeft, mouthRight; left/right as seen in the image),
// Pose (Roll, Yaw, Pitch in degrees), Quality (Brightness and Sharpness,
// 0-100) and Confidence (the detector score, 0-100).
nlohmann::json FaceDetailJson(const FaceObservation& face, int width, int height);

}  // namespace concierge
