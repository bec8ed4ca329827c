#include "pipeline/matcher.h"

#include <algorithm>
#include <cmath>

namespace concierge {

namespace {

// Candidates the second opinion re-ranks.
constexpr int kCandidates = 5;
// The 99th and 99.9th percentiles of a standard normal.
constexpr double kZ99 = 2.3263478740408408;
constexpr double kZ999 = 3.0902323061678132;
// Fewer pairs than this cannot place a 99.9th percentile: the prior decides.
constexpr size_t kMinTailPairs = 1000;

// z with P(Z > z) = p for a standard normal (bisection on erfc; p in (0, 0.5]).
double UpperQuantile(double p) {
  double lo = 0, hi = 40;
  for (int i = 0; i < 200; ++i) {
    const double mid = (lo + hi) / 2;
    if (0.5 * std::erfc(mid / std::sqrt(2.0)) > p) lo = mid;
    else hi = mid;
  }
  return lo;
}

// A Gaussian through the sample's 99th and 99.9th percentiles, blended with
// the prior by how many samples there are.
ImpostorPrior FitTail(std::vector<double> sample, const ImpostorPrior& prior, double prior_pairs) {
  if (sample.size() < kMinTailPairs) return prior;
  std::sort(sample.begin(), sample.end());
  auto at = [&](double q) { return sample[static_cast<size_t>(q * double(sample.size() - 1))]; };
  const double sd = std::max(1e-6, (at(0.999) - at(0.99)) / (kZ999 - kZ99));
  const double mean = at(0.99) - kZ99 * sd;
  const double w = double(sample.size()) / (double(sample.size()) + prior_pairs);
  return {static_cast<float>(w * mean + (1 - w) * prior.mean),
          static_cast<float>(w * sd + (1 - w) * prior.sd)};
}

// The views' vectors averaged per model (unit length), primary first; a
// model missing from some views averages over the others.
Descriptor Average(const std::vector<FaceView>& views, const std::vector<EmbedderSpec>& embedders) {
  Descriptor out;
  for (const EmbedderSpec& e : embedders) {
    Embedding sum;
    for (const FaceView& v : views) {
      const Embedding* x = FindEmbedding(v.face.embeddings, e.id);
      if (x == nullptr) continue;
      if (sum.empty()) sum.assign(x->size(), 0.f);
      for (size_t i = 0; i < sum.size() && i < x->size(); ++i) sum[i] += (*x)[i];
    }
    if (sum.empty()) continue;
    L2Normalize(sum);
    out.push_back({e.id, std::move(sum)});
  }
  return out;
}

}  // namespace

std::vector<VectorSpace> SpacesOf(const std::vector<EmbedderSpec>& embedders) {
  std::vector<VectorSpace> spaces;
  for (const EmbedderSpec& e : embedders) spaces.push_back({e.id, e.dimensions});
  return spaces;
}

Status CheckCollectionModels(const FaceCollection& faces, const std::vector<EmbedderSpec>& embedders) {
  const std::vector<VectorSpace> want = SpacesOf(embedders);
  bool same = want.size() == faces.spaces().size();
  for (size_t i = 0; same && i < want.size(); ++i)
    same = want[i].model == faces.spaces()[i].model && want[i].dims == faces.spaces()[i].dims;
  if (same) return Status::Ok();
  auto names = [](const std::vector<VectorSpace>& spaces) {
    std::string out;
    for (const auto& s : spaces) out += (out.empty() ? "" : ", ") + s.model;
    return out;
  };
  return Status::FailedPrecondition("collection " + faces.name() + " was opened for models " +
                                    names(faces.spaces()) + " but the engine embeds with " +
                                    names(want));
}

double FusedScore(const std::vector<EmbedderSpec>& embedders, const std::vector<float>& scores) {
  double sum = 0;
  for (size_t i = 0; i < scores.size() && i < embedders.size(); ++i) {
    if (std::isnan(scores[i])) continue;
    const ImpostorPrior& n = embedders[i].impostor;
    sum += embedders[i].weight * (scores[i] - n.mean) / n.sd;
  }
  return sum;
}

Calibration Calibrate(const std::vector<ImpostorScore>& impostors, size_t persons,
                      double target_false_welcome, const std::vector<EmbedderSpec>& embedders,
                      const CalibrationPrior& prior) {
  Calibration c;
  c.target_false_welcome = target_false_welcome;
  c.persons = persons;
  c.impostor_pairs = impostors.size();
  // A stranger meets every person: 1 - (1 - p)^N = target.
  const double n = double(std::max<size_t>(persons, 1));
  c.per_comparison_far = -std::expm1(std::log1p(-target_false_welcome) / n);
  const double z = UpperQuantile(c.per_comparison_far);

  std::vector<double> primary, fused;
  for (const ImpostorScore& s : impostors) {
    if (s.scores.empty()) continue;
    primary.push_back(s.scores[0]);
    if (s.scores.size() == embedders.size()) fused.push_back(FusedScore(embedders, s.scores));
  }
  const ImpostorPrior p = FitTail(primary, prior.primary_tail, prior.prior_pairs);
  const ImpostorPrior f = FitTail(fused, prior.fused_tail, prior.prior_pairs);
  c.primary_threshold = static_cast<float>(std::min(1.0, p.mean + z * p.sd));
  c.fused_threshold = static_cast<float>(f.mean + z * f.sd);
  c.band_below = prior.band_below;
  c.band_above = prior.band_above;
  c.more_views_below = prior.more_views_below;
  constexpr double kPairFalseAccepts = 1e-4;
  c.same_person_threshold = static_cast<float>(
      std::min(1.0, prior.primary_tail.mean + UpperQuantile(kPairFalseAccepts) * prior.primary_tail.sd));
  return c;
}

Matcher::Matcher(const ModelPack& pack, const FaceCollection* faces, double target_false_welcome,
                 SearchMode mode)
    : embedders_(pack.embedders),
      prior_(pack.calibration),
      faces_(faces),
      target_(target_false_welcome),
      mode_(mode) {}

Calibration Matcher::CalibrationFor(double target_false_welcome) const {
  constexpr size_t kMaxPairs = 200'000;
  return Calibrate(faces_->ImpostorScores(kMaxPairs, mode_), faces_->persons_with_faces(),
                   target_false_welcome, embedders_, prior_);
}

Calibration Matcher::calibration() {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t generation = faces_->generation();
  if (generation != calibrated_generation_) {
    calibration_ = CalibrationFor(target_);
    calibrated_generation_ = generation;
  }
  return calibration_;
}

Result<MatchDecision> Matcher::Decide(FaceEngine& engine, std::vector<FaceView>& views,
                                      const MoreViews& more) {
  if (views.empty()) return Status::InvalidArgument("no view of the face to decide on");
  const std::vector<EmbedderSpec>& embedders = embedders_;
  const Calibration c = calibration();
  MatchDecision d;
  auto search = [&] {
    d.descriptor = Average(views, embedders);
    d.views = views.size();
    return faces_->Search(d.descriptor, kCandidates, mode_);
  };
  std::vector<Match> matches = search();
  if (matches.empty()) return d;
  if (more && matches[0].similarity < c.primary_threshold + c.band_above &&
      matches[0].similarity >= c.primary_threshold - c.more_views_below) {
    ASSIGN_OR_RETURN(std::vector<FaceView> extra, more());
    for (FaceView& v : extra) views.push_back(std::move(v));
    matches = search();
  }
  const float primary = matches[0].similarity;
  d.similarity = primary;
  d.candidate = matches[0].person_id;
  const bool in_band = primary < c.primary_threshold + c.band_above &&
                       primary >= c.primary_threshold - c.band_below;
  // The other embedders' vectors: made now for views with images, else as stored.
  bool can_fuse = embedders.size() > 1 && in_band;
  for (const FaceView& v : views)
    for (size_t i = 1; i < embedders.size() && can_fuse; ++i)
      can_fuse = !v.image.empty() || FindEmbedding(v.face.embeddings, embedders[i].id) != nullptr;
  if (!can_fuse) {
    if (primary >= c.primary_threshold) d.person_id = matches[0].person_id;
    d.confident = d.person_id && primary >= c.primary_threshold + c.band_above;
    return d;
  }
  for (FaceView& v : views)
    for (size_t i = 1; i < embedders.size(); ++i)
      if (!v.image.empty()) RETURN_IF_ERROR(engine.AddEmbedding(v.image, i, v.face));
  matches = search();
  d.second_opinion = true;
  d.fused_score = -INFINITY;
  for (const Match& m : matches) {
    const double fused = FusedScore(embedders, m.scores);
    if (fused > d.fused_score) {
      d.fused_score = fused;
      d.candidate = m.person_id;
      d.similarity = m.similarity;
    }
  }
  if (d.fused_score >= c.fused_threshold) d.person_id = d.candidate;
  return d;
}

}  // namespace concierge
