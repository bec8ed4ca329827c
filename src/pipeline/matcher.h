// Stage 3's decision, "guess": who is this face, or an honest "unknown".
//
// The threshold is not a fixed cosine: the configured quantity is the target
// false-welcome rate (the share of strangers named as someone), and the
// threshold follows from the site's own gallery. A stranger is compared with
// every enrolled person, so with N people the per-comparison false-accept rate
// must be about target / N: the threshold rises as the gallery grows. The
// distribution of stranger-vs-person scores is estimated from the gallery
// itself (each face against every other person), blended with the model
// pack's prior while the gallery is small, and its upper tail extrapolated as
// a Gaussian fitted between the 99th and 99.9th percentiles.
//
// Two embedders: the primary one decides alone when its score is clearly
// above or below its threshold; in the band between, the second one is run
// and the two scores, each normalised on its own impostor distribution, are
// fused (models/manifest.json "calibration" and each embedder's "impostor"
// and "weight"). BENCHMARKS.md measures both.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/config.h"
#include "core/status.h"
#include "core/types.h"
#include "store/face_collection.h"
#include "vision/face_engine.h"
#include "vision/model_pack.h"

namespace concierge {

// The thresholds in force for one gallery.
struct Calibration {
  double target_false_welcome = 0;  // the configured rate it was derived for
  size_t persons = 0;               // persons with faces in the gallery
  size_t impostor_pairs = 0;        // gallery pairs the fit used
  double per_comparison_far = 0;    // what each stranger-vs-person comparison may cost
  float primary_threshold = 1;      // on the primary model's cosine
  float fused_threshold = 0;        // on the fused score (when there are two models)
  float band_below = 0, band_above = 0;  // primary cosines around it that ask the second model
  float more_views_below = 0;  // primary cosines this far below it ask for the track's other views
  // A one-to-one cosine above which two faces are taken for the same person
  // (joining a stranger's sightings across cameras): per-pair false accepts 1e-4.
  float same_person_threshold = 1;
};

// The vector spaces a collection searches with for these embedders (in order).
std::vector<VectorSpace> SpacesOf(const std::vector<EmbedderSpec>& embedders);

// OK when `faces` searches with exactly these embedders' models; else
// kFailedPrecondition naming both, so a collection opened for other models is
// never searched with these vectors.
Status CheckCollectionModels(const FaceCollection& faces, const std::vector<EmbedderSpec>& embedders);

// The fused score of one person's per-model cosines (Match::scores): the
// weighted sum of each score normalised on its model's impostor prior,
// over the models that have a score (NaN entries are skipped).
double FusedScore(const std::vector<EmbedderSpec>& embedders, const std::vector<float>& scores);

// Derives the thresholds for a gallery of `persons` people from its impostor
// scores (FaceCollection::ImpostorScores) and the pack's priors. Pure.
Calibration Calibrate(const std::vector<ImpostorScore>& impostors, size_t persons,
                      double target_false_welcome, const std::vector<EmbedderSpec>& embedders,
                      const CalibrationPrior& prior);

// One face as seen in one picture. Several views of one face track are
// decided together: their vectors are averaged per model.
struct FaceView {
  cv::Mat image;         // may be empty when the vectors come from storage
  FaceObservation face;  // described with at least the primary model's vector
};

// Asked once, when a decision is not clear-cut, for more views of the same face.
using MoreViews = std::function<Result<std::vector<FaceView>>()>;

// A decision about one face.
struct MatchDecision {
  std::optional<std::string> person_id;  // set when known
  std::optional<float> similarity;       // best primary cosine, also when below the threshold
  std::optional<std::string> candidate;  // the best candidate, known or not
  bool confident = false;  // known, and clearly above the threshold (the gallery may learn it)
  bool second_opinion = false;           // the other embedders were asked
  double fused_score = 0;                // when they were
  size_t views = 0;                      // views the decision used
  Descriptor descriptor;                 // the averaged vectors it was made on
};

// Thread-safe; one may serve every worker. Needs a collection (searching with
// the pack's embedders, in order) that outlives it.
class Matcher {
 public:
  Matcher(const ModelPack& pack, const FaceCollection* faces, double target_false_welcome,
          SearchMode mode);

  // Decides who the face in `views` (at least one, each a human face with its
  // primary vector) is. When the primary score is in the band below the
  // threshold, asks `more` (may be null) for the track's other views; when it
  // is in the band around it, adds the other embedders' vectors to every view
  // that has an image and decides on the fused score. Views without images
  // (stored vectors) are decided by what they carry.
  // `engine` (the caller's, of the same pack) makes the vectors.
  Result<MatchDecision> Decide(FaceEngine& engine, std::vector<FaceView>& views,
                               const MoreViews& more = nullptr);

  // The calibration for the collection as it is now (recomputed after it changed).
  Calibration calibration();
  // The same gallery calibrated for another target rate (what-if; not cached).
  Calibration CalibrationFor(double target_false_welcome) const;

  double target_false_welcome() const { return target_; }
  SearchMode mode() const { return mode_; }

 private:
  const std::vector<EmbedderSpec> embedders_;
  const CalibrationPrior prior_;
  const FaceCollection* faces_;
  const double target_;
  const SearchMode mode_;
  std::mutex mu_;
  uint64_t calibrated_generation_ = UINT64_MAX;  // mu_
  Calibration calibration_;                      // mu_
};

}  // namespace concierge
