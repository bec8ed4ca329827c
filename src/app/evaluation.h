// The accuracy protocols behind `concierge eval` (BENCHMARKS.md has the
// figures and what each one measures). Each runs the real pipeline parts
// (the vision engine config.vision names, a face collection, the matcher,
// stranger clusters) on the shared face data under `data` (../shared/data,
// see its README) and returns its figures as one JSON object: the shape
// `--json` prints, from which the CLI also prints its text. Errors: the
// engine's (models missing), kNotFound for a data set that is not there,
// store errors as the stores give them. Each call is single-threaded and
// takes minutes; none changes anything outside the process.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/status.h"

namespace concierge {

// LFW verification, each photo's central face: View 2's 10 folds (each fold's
// threshold chosen on the other nine), or with `view1` the best threshold on
// pairsDevTest. Per embedder and fused.
Result<nlohmann::json> EvaluateLfw(const Config& config, const std::string& data, bool view1);

// Detection recall on FDDB folds 01-02 and dlib's testing.xml (IoU >= 0.4),
// and false detections on face-free photos, with and without the human-face
// check.
Result<nlohmann::json> EvaluateDetection(const Config& config, const std::string& data);

// Open-set identification: a gallery of the people in enroll/ plus
// `lfw_people` LFW people (`per_person` photos each), probed with their other
// photos and with `stranger_count` photos of people never enrolled (0: all).
// Recall, misidentification and false welcomes at the calibrated thresholds
// (recognition.target_false_welcome_rate) and at the best threshold in hindsight.
Result<nlohmann::json> EvaluateIdentification(const Config& config, const std::string& data,
                                              size_t lfw_people, size_t per_person,
                                              size_t stranger_count);

// How often the "possible photo/screen" flag fires on live faces: LFW (the
// central face of one photo of each of `lfw_people` people), the Hamilton
// clip (every third frame) and group photos (dlib's test photos and
// two_people.jpg), at notify.spoof_live_threshold and others.
Result<nlohmann::json> EvaluateLiveFlag(const Config& config, const std::string& data,
                                        size_t lfw_people);

// A replayed week of strangers for EvaluateClustering.
struct ClusterStreamOptions {
  size_t people = 150;     // LFW people who come back, with >= 4 photos each
  size_t singles = 300;    // LFW people seen once
  size_t max_photos = 12;  // photos used per returning person
  size_t per_visit = 2;    // faces per visit
  bool merge = true;       // clusters merge as evidence grows
};

// Stranger clustering as the notifier does it (notify.cluster_threshold and
// window): a week of LFW strangers, each returning person's photos in visits
// of `per_visit` faces a few seconds apart at random times, and the singles
// once each. Seeded, so every run replays the same week. Cards per returning
// stranger, mixed clusters, BCubed precision and recall.
Result<nlohmann::json> EvaluateClustering(const Config& config, const std::string& data,
                                          const ClusterStreamOptions& opt);

}  // namespace concierge
