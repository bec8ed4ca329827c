#include "vision/verification_metrics.h"

#include <algorithm>
#include <cmath>

namespace concierge {

double AccuracyAt(const std::vector<ScoredPair>& pairs, float threshold) {
  if (pairs.empty()) return 0;
  size_t right = 0;
  for (const auto& p : pairs) right += ((p.similarity >= threshold) == p.same);
  return double(right) / double(pairs.size());
}

float BestThreshold(const std::vector<ScoredPair>& pairs) {
  // Sweep all cut points in one pass: accuracy = same-above + different-below.
  std::vector<ScoredPair> sorted = pairs;
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.similarity < b.similarity; });
  size_t same_total = 0;
  for (const auto& p : sorted) same_total += p.same;
  size_t diff_below = 0, same_below = 0, best = 0;
  float best_t = sorted.empty() ? 0.f : sorted.front().similarity;
  for (size_t i = 0; i <= sorted.size(); ++i) {
    const size_t correct = diff_below + (same_total - same_below);
    if (correct > best) {
      best = correct;
      best_t = i == 0 ? sorted[0].similarity - 1e-4f
               : i == sorted.size() ? sorted.back().similarity + 1e-4f
                                    : (sorted[i - 1].similarity + sorted[i].similarity) / 2;
    }
    if (i < sorted.size()) (sorted[i].same ? same_below : diff_below)++;
  }
  return best_t;
}

FoldReport CrossValidate(const std::vector<ScoredPair>& pairs, int folds) {
  FoldReport report;
  for (int f = 0; f < folds; ++f) {
    std::vector<ScoredPair> train, test;
    for (const auto& p : pairs) (p.fold == f ? test : train).push_back(p);
    const float t = BestThreshold(train);
    report.thresholds.push_back(t);
    report.accuracies.push_back(AccuracyAt(test, t));
  }
  double sum = 0, sq = 0;
  for (double a : report.accuracies) sum += a;
  report.mean = sum / folds;
  for (double a : report.accuracies) sq += (a - report.mean) * (a - report.mean);
  report.stddev = std::sqrt(sq / folds);
  return report;
}

RateAtFar TarAtFar(const std::vector<ScoredPair>& pairs, double far) {
  std::vector<float> impostor, genuine;
  for (const auto& p : pairs) (p.same ? genuine : impostor).push_back(p.similarity);
  if (impostor.empty() || genuine.empty()) return {};
  std::sort(impostor.begin(), impostor.end(), std::greater<>());
  // Allow floor(far * N) impostors at or above the threshold.
  const size_t allowed = static_cast<size_t>(std::floor(far * double(impostor.size())));
  const float threshold = allowed < impostor.size() ? impostor[allowed] + 1e-6f : impostor.back();
  size_t accepted = 0;
  for (float g : genuine) accepted += (g >= threshold);
  return {double(accepted) / double(genuine.size()), threshold};
}

}  // namespace concierge
