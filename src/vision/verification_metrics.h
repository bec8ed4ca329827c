// Verification metrics for pair protocols such as LFW: accuracy at a chosen
// threshold, k-fold threshold selection, and TAR at a fixed FAR.
#pragma once

#include <vector>

namespace concierge {

struct ScoredPair {
  float similarity = 0;
  bool same = false;
  int fold = 0;
};

// Fraction of pairs classified right when "same" means similarity >= threshold.
double AccuracyAt(const std::vector<ScoredPair>& pairs, float threshold);

// The threshold with the best accuracy on `pairs` (midpoints between sorted scores).
float BestThreshold(const std::vector<ScoredPair>& pairs);

struct FoldReport {
  std::vector<double> accuracies;   // one per fold, threshold from the other folds
  std::vector<float> thresholds;    // the threshold used for each fold
  double mean = 0, stddev = 0;
};

// Needs pairs labelled with folds 0..folds-1. For each fold, picks the
// threshold on the other folds and measures accuracy on it.
FoldReport CrossValidate(const std::vector<ScoredPair>& pairs, int folds);

// True-accept rate at the threshold where the false-accept rate is at most `far`.
struct RateAtFar {
  double tar = 0;
  float threshold = 0;
};
RateAtFar TarAtFar(const std::vector<ScoredPair>& pairs, double far);

}  // namespace concierge
