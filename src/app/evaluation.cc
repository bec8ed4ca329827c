#include "app/evaluation.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include <opencv2/videoio.hpp>  // the CAP_* values only
#include <spdlog/spdlog.h>

#include "core/hash.h"
#include "pipeline/cluster_replay.h"
#include "pipeline/matcher.h"
#include "store/database.h"
#include "store/face_collection.h"
#include "store/stranger_clusters.h"
#include "vision/face_engine.h"
#include "vision/ground_truth.h"
#include "vision/image_io.h"
#include "vision/media_plugin.h"
#include "vision/verification_metrics.h"

namespace concierge {

namespace fs = std::filesystem;

namespace {

struct LfwPair {
  std::string a, b;
  bool same = false;
  int fold = 0;
};

std::string LfwImage(const std::string& root, const std::string& name, int index) {
  char file[256];
  std::snprintf(file, sizeof(file), "%s_%04d.jpg", name.c_str(), index);
  return (fs::path(root) / "images" / name / file).string();
}

// Reads pairs.txt (View 2: "10 300" header) or pairsDevTest/Train (View 1: "N").
Result<std::vector<LfwPair>> ReadLfwPairs(const std::string& root, const std::string& file) {
  std::ifstream in((fs::path(root) / file).string());
  if (!in) return Status::NotFound("cannot read " + (fs::path(root) / file).string());
  std::string header;
  std::getline(in, header);
  std::istringstream hs(header);
  int folds = 1, per_half = 0;
  hs >> folds >> per_half;
  if (per_half == 0) {  // View 1 header holds only the count.
    per_half = folds;
    folds = 1;
  }
  std::vector<LfwPair> pairs;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<std::string> f;
    for (std::string tok; ls >> tok;) f.push_back(tok);
    LfwPair p;
    p.fold = static_cast<int>(pairs.size() / static_cast<size_t>(2 * per_half));
    if (f.size() == 3) {
      p = {LfwImage(root, f[0], std::stoi(f[1])), LfwImage(root, f[0], std::stoi(f[2])), true, p.fold};
    } else if (f.size() == 4) {
      p = {LfwImage(root, f[0], std::stoi(f[1])), LfwImage(root, f[2], std::stoi(f[3])), false, p.fold};
    } else {
      continue;
    }
    pairs.push_back(p);
  }
  if (pairs.size() != static_cast<size_t>(folds * per_half * 2))
    return Status::InvalidArgument(file + " has " + std::to_string(pairs.size()) + " pairs, expected " +
                                   std::to_string(folds * per_half * 2));
  return pairs;
}

// Describes the central face of an LFW photo with every embedder. Falls back
// to the detector-free centre box when no face is found, as the LFW protocol
// allows; every LFW photo shows a face, so the human-face check does not run.
Result<Descriptor> EmbedCentralFace(FaceEngine& engine, const std::string& path, const ImageLimits& limits) {
  ASSIGN_OR_RETURN(cv::Mat image, ReadImageFile(path, limits));
  ASSIGN_OR_RETURN(auto detections, engine.detector().Detect(image));
  const float cx = image.cols / 2.f, cy = image.rows / 2.f;
  Detection chosen{Box{image.cols * 0.3f, image.rows * 0.28f, image.cols * 0.4f, image.rows * 0.46f}, 0};
  float best = 1e9f;
  for (const auto& d : detections) {
    const float dist = std::hypot(d.box.x + d.box.w / 2 - cx, d.box.y + d.box.h / 2 - cy);
    if (dist < best) {
      best = dist;
      chosen = d;
    }
  }
  ASSIGN_OR_RETURN(FaceObservation face,
                   engine.Describe(image, chosen,
                                   {.embed = EmbedWith::kAll, .anti_spoof = false, .check_human = false}));
  return face.embeddings;
}

// The per-model cosines of two descriptors (NaN where one lacks the model).
std::vector<float> Cosines(const std::vector<EmbedderSpec>& embedders, const Descriptor& a,
                           const Descriptor& b) {
  std::vector<float> out;
  for (const EmbedderSpec& e : embedders) {
    const Embedding* x = FindEmbedding(a, e.id);
    const Embedding* y = FindEmbedding(b, e.id);
    out.push_back(x && y ? Dot(*x, *y) : std::numeric_limits<float>::quiet_NaN());
  }
  return out;
}

// LFW figures for one score: accuracy over the folds (or View 1) and TAR at FAR.
nlohmann::json LfwFigures(const std::vector<ScoredPair>& scored, bool view1) {
  nlohmann::json out;
  if (view1) {
    const float t = BestThreshold(scored);
    out["threshold"] = t;
    out["accuracy"] = AccuracyAt(scored, t);
  } else {
    const FoldReport report = CrossValidate(scored, 10);
    double tsum = 0;
    for (float t : report.thresholds) tsum += t;
    out["accuracy_mean"] = report.mean;
    out["accuracy_std"] = report.stddev;
    out["fold_accuracies"] = report.accuracies;
    out["threshold"] = tsum / 10;
  }
  const RateAtFar r2 = TarAtFar(scored, 1e-2), r3 = TarAtFar(scored, 1e-3);
  out["tar_at_far_1e-2"] = r2.tar;
  out["tar_at_far_1e-3"] = r3.tar;
  out["threshold_at_far_1e-3"] = r3.threshold;
  return out;
}

}  // namespace

Result<nlohmann::json> EvaluateLfw(const Config& config, const std::string& data, bool view1) {
  const std::string root = (fs::path(data) / "lfw").string();
  auto pairs = ReadLfwPairs(root, view1 ? "pairsDevTest.txt" : "pairs.txt");
  if (!pairs.ok()) return pairs.status();
  auto engine = FaceEngine::Create(config.vision);
  if (!engine.ok()) return engine.status();
  const std::vector<EmbedderSpec>& embedders = (*engine)->embedders();
  const ImageLimits limits{config.vision.max_image_bytes, config.vision.max_image_pixels};

  std::map<std::string, Descriptor> cache;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::vector<float>> cosines;  // per scored pair
  std::vector<const LfwPair*> kept;
  size_t skipped = 0;
  for (const auto& p : *pairs) {
    bool missing = false;
    for (const auto* path : {&p.a, &p.b}) {
      if (cache.count(*path)) continue;
      auto e = EmbedCentralFace(**engine, *path, limits);
      // The shared copy of LFW lacks a few images; such pairs are skipped and counted.
      if (e.status().code() == Status::Code::kNotFound) {
        spdlog::warn("skipping pair: {}", e.status().message());
        missing = true;
        break;
      }
      if (!e.ok()) return e.status();
      cache[*path] = std::move(*e);
      if (cache.size() % 1000 == 0) spdlog::info("embedded {} images", cache.size());
    }
    if (missing) {
      ++skipped;
      continue;
    }
    cosines.push_back(Cosines(embedders, cache[p.a], cache[p.b]));
    kept.push_back(&p);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto scored_by = [&](const std::function<float(const std::vector<float>&)>& score) {
    std::vector<ScoredPair> scored;
    for (size_t i = 0; i < kept.size(); ++i) scored.push_back({score(cosines[i]), kept[i]->same, kept[i]->fold});
    return scored;
  };
  nlohmann::json out = {{"protocol", view1 ? "LFW View 1 (pairsDevTest)" : "LFW View 2 (10 folds)"},
                        {"pairs", kept.size()},
                        {"pairs_skipped_missing_image", skipped},
                        {"images", cache.size()},
                        {"ms_per_image", 1000.0 * seconds / double(cache.size())}};
  for (size_t m = 0; m < embedders.size(); ++m)
    out["models"][embedders[m].id] = LfwFigures(scored_by([m](const auto& c) { return c[m]; }), view1);
  out["fused"] = LfwFigures(
      scored_by([&](const auto& c) { return static_cast<float>(FusedScore(embedders, c)); }), view1);
  return out;
}

namespace {

// --- eval detect -----------------------------------------------------------

struct DetectTally {
  MatchCount detector;  // every detection
  MatchCount human;     // detections that pass the human-face check
  int images = 0;
  double seconds = 0;
};

Result<DetectTally> RunDetector(FaceEngine& engine, const GroundTruth& truth, const ImageLimits& limits) {
  DetectTally tally;
  auto add = [](MatchCount& total, const MatchCount& m) {
    total.truths += m.truths;
    total.found += m.found;
    total.detections += m.detections;
    total.false_positives += m.false_positives;
  };
  for (const auto& [path, boxes] : truth) {
    ASSIGN_OR_RETURN(cv::Mat image, ReadImageFile(path, limits));
    const auto start = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(auto detections, engine.detector().Detect(image));
    std::vector<Box> found, human;
    for (const auto& d : detections) {
      found.push_back(d.box);
      ASSIGN_OR_RETURN(const HumanFaceVerdict verdict, engine.CheckHuman(image, d.box));
      if (verdict.human) human.push_back(d.box);
    }
    tally.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    add(tally.detector, MatchBoxes(boxes, found, 0.4f));
    add(tally.human, MatchBoxes(boxes, human, 0.4f));
    ++tally.images;
  }
  return tally;
}

nlohmann::json MatchJson(const MatchCount& m) {
  return {{"faces", m.truths}, {"found", m.found}, {"recall", m.recall()},
          {"detections", m.detections}, {"unmatched_detections", m.false_positives}};
}

nlohmann::json TallyJson(const DetectTally& t) {
  return {{"images", t.images}, {"human_faces", MatchJson(t.human)},
          {"all_detections", MatchJson(t.detector)},
          {"ms_per_image", t.images ? 1000 * t.seconds / t.images : 0}};
}

}  // namespace

Result<nlohmann::json> EvaluateDetection(const Config& config, const std::string& data) {
  auto engine = FaceEngine::Create(config.vision);
  if (!engine.ok()) return engine.status();
  const ImageLimits limits{config.vision.max_image_bytes, config.vision.max_image_pixels};
  const fs::path root = fs::path(data) / "detection";
  auto fddb = LoadFddbBoxes((root / "fddb" / "derived_boxes_from_ellipses.csv").string(),
                            (root / "fddb" / "images").string());
  if (!fddb.ok()) return fddb.status();
  auto fddb_tally = RunDetector(**engine, *fddb, limits);
  if (!fddb_tally.ok()) return fddb_tally.status();
  auto dlib = LoadDlibBoxes((root / "dlib_faces" / "examples" / "faces" / "testing.xml").string());
  if (!dlib.ok()) return dlib.status();
  auto dlib_tally = RunDetector(**engine, *dlib, limits);
  if (!dlib_tally.ok()) return dlib_tally.status();
  // Negatives: every detection is false. The Scream is a painted face, so it
  // is reported apart rather than counted either way.
  GroundTruth negatives, scream;
  for (const char* sub : {"imagenet_samples", "dlib_misc"})
    for (const auto& path : ExpandImageInputs({(fs::path(data) / "negatives" / sub).string()}))
      (path.find("scream") != std::string::npos ? scream : negatives)[path];
  auto neg_tally = RunDetector(**engine, negatives, limits);
  if (!neg_tally.ok()) return neg_tally.status();
  auto scream_tally = RunDetector(**engine, scream, limits);
  if (!scream_tally.ok()) return scream_tally.status();
  const int n = std::max(1, neg_tally->images);
  nlohmann::json out = {
      {"iou", 0.4},
      {"fddb_folds_01_02", TallyJson(*fddb_tally)},
      {"dlib_testing", TallyJson(*dlib_tally)},
      {"negatives",
       {{"images", neg_tally->images},
        {"false_detections", neg_tally->human.detections},
        {"false_detections_per_image", double(neg_tally->human.detections) / n},
        {"detector_false_detections", neg_tally->detector.detections},
        {"detector_false_detections_per_image", double(neg_tally->detector.detections) / n},
        {"scream_painting_faces", scream_tally->human.detections}}}};
  return out;
}

namespace {

// --- eval identify ---------------------------------------------------------

struct Identity {
  std::string id;
  std::vector<std::string> photos;  // unique by content; the first ones are enrolled
};

// Identities from enroll/: folders of one person each, with byte-identical
// copies removed so no photo is enrolled and probed at once.
std::vector<Identity> EnrollFolderIdentities(const fs::path& enroll) {
  std::vector<Identity> out;
  std::set<std::string> seen;
  auto add_folder_of_people = [&](const fs::path& parent, const std::string& prefix) {
    std::error_code ec;
    std::vector<fs::path> people;
    for (const auto& e : fs::directory_iterator(parent, ec))
      if (e.is_directory()) people.push_back(e.path());
    std::sort(people.begin(), people.end());
    for (const auto& dir : people) {
      Identity id{prefix + dir.filename().string(), {}};
      for (const auto& photo : ExpandImageInputs({dir.string()})) {
        auto bytes = ReadFileBytes(photo, 64 << 20);
        if (bytes.ok() && seen.insert(Sha256Hex(*bytes)).second) id.photos.push_back(photo);
      }
      if (!id.photos.empty()) out.push_back(std::move(id));
    }
  };
  add_folder_of_people(enroll / "face_recognition" / "examples" / "knn_examples" / "train", "fr_");
  add_folder_of_people(enroll / "dlib_johns" / "examples" / "johns", "dlib_");
  add_folder_of_people(enroll / "facenet-pytorch" / "data" / "test_images", "fnp_");
  for (const char* single : {"lin-manuel-miranda.png", "alex-lacamoire.png"}) {
    const fs::path p = enroll / "face_recognition" / "examples" / single;
    auto bytes = ReadFileBytes(p.string(), 64 << 20);
    if (bytes.ok() && seen.insert(Sha256Hex(*bytes)).second)
      out.push_back({"fr_" + p.stem().string(), {p.string()}});
  }
  return out;
}

// True when an LFW name ("Angelina_Jolie", "Barack_Obama") is someone already
// enrolled from enroll/ under a short id ("fnp_angelina_jolie", "fr_obama"):
// such a photo is not a stranger.
bool IsEnrolledElsewhere(const std::string& lfw_name, const std::vector<Identity>& enrolled) {
  std::string lower = lfw_name;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  for (const auto& id : enrolled) {
    const std::string short_name = id.id.substr(id.id.find('_') + 1);
    if (lower == short_name || (lower.size() > short_name.size() &&
                                lower.compare(lower.size() - short_name.size(), short_name.size(), short_name) == 0 &&
                                lower[lower.size() - short_name.size() - 1] == '_'))
      return true;
  }
  return false;
}

// LFW people from people.txt: every `stride`-th person with >= 2 photos is
// enrolled (up to `count`); everyone else is a stranger.
void LfwIdentities(const fs::path& lfw, size_t count, std::vector<Identity>& enrolled,
                   std::vector<std::string>& strangers, size_t stranger_count) {
  std::ifstream in((lfw / "people.txt").string());
  std::vector<std::pair<std::string, int>> people;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string name;
    int n = 0;
    if (ls >> name >> n && n > 0) people.emplace_back(name, n);
  }
  std::sort(people.begin(), people.end());
  people.erase(std::unique(people.begin(), people.end()), people.end());
  size_t multi = 0;
  for (const auto& [name, n] : people) multi += (n >= 2);
  const size_t stride = std::max<size_t>(1, multi / std::max<size_t>(count, 1));
  size_t seen_multi = 0, picked = 0;
  for (const auto& [name, n] : people) {
    const bool pick = n >= 2 && picked < count && (seen_multi++ % stride == 0);
    picked += pick;
    std::vector<std::string> photos;
    for (int i = 1; i <= n; ++i) {
      const std::string p = LfwImage(lfw.string(), name, i);
      if (fs::exists(p)) photos.push_back(p);
    }
    if (pick && photos.size() >= 2) enrolled.push_back({"lfw_" + name, photos});
    else if (!pick && strangers.size() < stranger_count && !photos.empty() && !IsEnrolledElsewhere(name, enrolled))
      strangers.push_back(photos.front());
  }
}

// The face of a probe or enrolment photo, described with every embedder. LFW
// photos show their subject in the middle (others may be larger), so theirs
// is the central face, as in `eval lfw`; other photos' is the largest human face.
Result<FaceObservation> DescribeMainFace(FaceEngine& engine, const std::string& path,
                                         const ImageLimits& limits) {
  if (path.find("/lfw/") != std::string::npos) {
    FaceObservation face;
    face.human = true;
    ASSIGN_OR_RETURN(face.embeddings, EmbedCentralFace(engine, path, limits));
    return face;
  }
  ASSIGN_OR_RETURN(cv::Mat image, ReadImageFile(path, limits));
  ASSIGN_OR_RETURN(auto found, engine.Analyze(image, {.embed = EmbedWith::kNone, .anti_spoof = false}));
  std::erase_if(found, [](const FaceObservation& f) { return !f.human; });
  if (found.empty()) {
    FaceObservation face;
    face.human = true;
    ASSIGN_OR_RETURN(face.embeddings, EmbedCentralFace(engine, path, limits));
    return face;
  }
  auto& largest = *std::max_element(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return a.box.area() < b.box.area();
  });
  for (size_t i = 0; i < engine.embedders().size(); ++i)
    RETURN_IF_ERROR(engine.AddEmbedding(image, i, largest));
  return largest;
}

struct ProbeResult {
  std::string truth;  // empty for a stranger
  std::string path;
  MatchDecision decision;     // the production decision at the calibrated thresholds
  std::vector<Match> top;     // the best candidates with every model's score
};

// Recall, misidentification and false welcomes of `accept` (did the probe
// name someone, and whom).
nlohmann::json Outcome(const std::vector<ProbeResult>& probes,
                       const std::function<std::optional<std::string>(const ProbeResult&)>& accept) {
  size_t known = 0, recalled = 0, misnamed = 0, strangers = 0, welcomed = 0;
  for (const auto& p : probes) {
    const std::optional<std::string> named = accept(p);
    if (p.truth.empty()) {
      ++strangers;
      welcomed += named.has_value();
    } else {
      ++known;
      if (named && *named == p.truth) ++recalled;
      else if (named) ++misnamed;
    }
  }
  return {{"recall", known ? double(recalled) / known : 0},
          {"misidentified", known ? double(misnamed) / known : 0},
          {"false_welcome_rate", strangers ? double(welcomed) / strangers : 0},
          {"false_welcomes", welcomed}};
}

// The best candidate by `score` among a probe's top matches.
std::pair<double, std::string> Best(const ProbeResult& p,
                                    const std::function<double(const Match&)>& score) {
  std::pair<double, std::string> best{-INFINITY, ""};
  for (const Match& m : p.top)
    if (score(m) > best.first) best = {score(m), m.person_id};
  return best;
}

// With the threshold that keeps false welcomes at or under `rate` of the
// strangers (the best any threshold on this score can do): its outcome.
nlohmann::json AtEmpiricalRate(const std::vector<ProbeResult>& probes, double rate,
                               const std::function<double(const Match&)>& score) {
  std::vector<double> stranger_top;
  for (const auto& p : probes)
    if (p.truth.empty() && !p.top.empty()) stranger_top.push_back(Best(p, score).first);
  std::sort(stranger_top.begin(), stranger_top.end(), std::greater<>());
  const size_t allowed = static_cast<size_t>(std::floor(rate * double(stranger_top.size())));
  const double threshold = allowed < stranger_top.size() ? stranger_top[allowed] + 1e-6 : -INFINITY;
  nlohmann::json out = Outcome(probes, [&](const ProbeResult& p) -> std::optional<std::string> {
    if (p.top.empty()) return std::nullopt;
    const auto best = Best(p, score);
    if (best.first >= threshold) return best.second;
    return std::nullopt;
  });
  out["threshold"] = threshold;
  return out;
}

}  // namespace

Result<nlohmann::json> EvaluateIdentification(const Config& config, const std::string& data,
                                              size_t lfw_people, size_t per_person,
                                              size_t stranger_count) {
  auto engine = FaceEngine::Create(config.vision);
  if (!engine.ok()) return engine.status();
  const std::vector<EmbedderSpec>& embedders = (*engine)->embedders();
  const ImageLimits limits{config.vision.max_image_bytes, config.vision.max_image_pixels};
  auto mode = ParseSearchMode(config.recognition.search_mode);
  if (!mode.ok()) return mode.status();
  std::vector<Identity> identities = EnrollFolderIdentities(fs::path(data) / "enroll");
  std::vector<std::string> stranger_photos;
  LfwIdentities(fs::path(data) / "lfw", lfw_people, identities, stranger_photos,
                stranger_count ? stranger_count : SIZE_MAX);

  // A throwaway collection in memory-backed SQLite keeps the real search code in the loop.
  auto db = Database::OpenSqlite(":memory:", 1000);
  if (!db.ok()) return db.status();
  auto gallery = FaceCollection::Open(db->get(), "eval", SpacesOf(embedders));
  if (!gallery.ok()) return gallery.status();
  std::vector<std::pair<std::string, std::string>> probe_list;  // (truth, path)
  size_t enrolled_photos = 0;
  for (const auto& id : identities) {
    if (Status s = (*gallery)->AddPerson({id.id, id.id, "", 0}); !s.ok()) return s;
    for (size_t i = 0; i < id.photos.size(); ++i) {
      if (i >= per_person) {
        probe_list.emplace_back(id.id, id.photos[i]);
        continue;
      }
      auto face = DescribeMainFace(**engine, id.photos[i], limits);
      if (!face.ok()) return face.status();
      FaceRecord record;
      record.person_id = id.id;
      record.embeddings = std::move(face->embeddings);
      if (auto added = (*gallery)->AddFace(record); !added.ok()) return added.status();
      ++enrolled_photos;
    }
  }
  for (const auto& s : stranger_photos) probe_list.emplace_back("", s);
  spdlog::info("gallery: {} people, {} photos; probing {} photos", identities.size(), enrolled_photos,
               probe_list.size());

  Matcher matcher((*engine)->pack(), gallery->get(),
                  config.recognition.target_false_welcome_rate, *mode);
  const Calibration calibration = matcher.calibration();
  std::vector<ProbeResult> probes;
  size_t second_opinions = 0;
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < probe_list.size(); ++i) {
    auto face = DescribeMainFace(**engine, probe_list[i].second, limits);
    if (!face.ok()) return face.status();
    ProbeResult p{probe_list[i].first, probe_list[i].second, {}, {}};
    p.top = (*gallery)->Search(face->embeddings, 5, *mode);
    std::vector<FaceView> views{{cv::Mat(), std::move(*face)}};
    auto decision = matcher.Decide(**engine, views);
    if (!decision.ok()) return decision.status();
    second_opinions += decision->second_opinion;
    p.decision = std::move(*decision);
    probes.push_back(std::move(p));
    if ((i + 1) % 500 == 0) spdlog::info("probed {}/{}", i + 1, probe_list.size());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const double target = config.recognition.target_false_welcome_rate;
  nlohmann::json out = {{"enrolled_people", identities.size()}, {"enrolled_photos", enrolled_photos},
                        {"photos_per_person", per_person},
                        {"known_probes", probe_list.size() - stranger_photos.size()},
                        {"stranger_probes", stranger_photos.size()},
                        {"search_mode", config.recognition.search_mode},
                        {"ms_per_probe", 1000 * seconds / double(std::max<size_t>(1, probe_list.size()))}};
  out["calibrated"] = Outcome(probes, [](const ProbeResult& p) { return p.decision.person_id; });
  out["calibrated"]["target_false_welcome_rate"] = target;
  out["calibrated"]["primary_threshold"] = calibration.primary_threshold;
  out["calibrated"]["fused_threshold"] = calibration.fused_threshold;
  out["calibrated"]["second_opinion_share"] = double(second_opinions) / double(std::max<size_t>(1, probes.size()));
  // The best any single threshold could do on this set, per score.
  const auto primary = [](const Match& m) { return double(m.similarity); };
  const auto fused = [&](const Match& m) { return FusedScore(embedders, m.scores); };
  out["best_threshold"]["primary"] = AtEmpiricalRate(probes, target, primary);
  out["best_threshold"]["fused"] = AtEmpiricalRate(probes, target, fused);
  // The strangers most like someone enrolled: where false welcomes come from.
  std::vector<const ProbeResult*> worst;
  for (const auto& p : probes)
    if (p.truth.empty() && !p.top.empty()) worst.push_back(&p);
  std::sort(worst.begin(), worst.end(),
            [](auto* a, auto* b) { return a->top[0].similarity > b->top[0].similarity; });
  for (size_t i = 0; i < std::min<size_t>(5, worst.size()); ++i)
    out["closest_strangers"].push_back({{"photo", worst[i]->path},
                                        {"matched", worst[i]->top[0].person_id},
                                        {"similarity", worst[i]->top[0].similarity},
                                        {"welcomed", worst[i]->decision.person_id.has_value()}});
  return out;
}


namespace {

// ---- live-face flag ----

// Live scores of the human faces in a set of real, live photos and frames.
struct LiveSet {
  std::string name;
  std::vector<float> scores;  // one per face (-1: not measured, left out)
};

void AddLiveScores(FaceEngine& engine, const cv::Mat& image, bool central_only, LiveSet& set) {
  auto faces = engine.Analyze(image, {.embed = EmbedWith::kNone, .anti_spoof = true});
  if (!faces.ok()) return;
  const FaceObservation* central = nullptr;
  float best = 1e9f;
  for (const auto& f : *faces) {
    if (!f.human || f.live_score < 0) continue;
    if (!central_only) {
      set.scores.push_back(f.live_score);
      continue;
    }
    const float d = std::hypot(f.box.x + f.box.w / 2 - image.cols / 2.f,
                               f.box.y + f.box.h / 2 - image.rows / 2.f);
    if (d < best) best = d, central = &f;
  }
  if (central) set.scores.push_back(central->live_score);
}

double FlaggedShare(const std::vector<float>& scores, float threshold) {
  if (scores.empty()) return 0;
  return double(std::count_if(scores.begin(), scores.end(), [&](float s) { return s < threshold; })) /
         double(scores.size());
}

}  // namespace

Result<nlohmann::json> EvaluateLiveFlag(const Config& config, const std::string& data,
                                        size_t lfw_people) {
  auto engine = FaceEngine::Create(config.vision);
  if (!engine.ok()) return engine.status();
  const ImageLimits limits{config.vision.max_image_bytes, config.vision.max_image_pixels};
  std::vector<LiveSet> sets(3);
  sets[0].name = "lfw";
  std::vector<fs::path> people;
  for (const auto& e : fs::directory_iterator(fs::path(data) / "lfw" / "images"))
    people.push_back(e.path());
  std::sort(people.begin(), people.end());
  const size_t step = std::max<size_t>(1, people.size() / std::max<size_t>(1, lfw_people));
  for (size_t i = 0; i < people.size() && i / step < lfw_people; i += step) {
    const auto photos = ExpandImageInputs({people[i].string()});
    if (photos.empty()) continue;
    auto image = ReadImageFile(photos.front(), limits);
    if (image.ok()) AddLiveScores(**engine, *image, true, sets[0]);
  }
  sets[1].name = "hamilton_clip";
  auto video = NewVideoCapture();
  if (!video.ok()) return video.status();
  if (!(*video)->Open((fs::path(data) / "videos" / "short_hamilton_clip.mp4").string(), cv::CAP_ANY,
                      {}) ||
      !(*video)->IsOpened())
    return Status::NotFound("videos/short_hamilton_clip.mp4 not readable");
  cv::Mat frame;
  for (int n = 0; (*video)->Read(frame); ++n)
    if (n % 3 == 0) AddLiveScores(**engine, frame, false, sets[1]);
  sets[2].name = "group_photos";
  std::vector<std::string> group = ExpandImageInputs(
      {(fs::path(data) / "detection" / "dlib_faces" / "examples" / "faces").string()});
  group.push_back((fs::path(data) / "enroll" / "face_recognition" / "examples" / "two_people.jpg").string());
  for (const auto& path : group) {
    auto image = ReadImageFile(path, limits);
    if (image.ok()) AddLiveScores(**engine, *image, false, sets[2]);
  }

  const float configured = config.notify.spoof_live_threshold;
  const std::vector<float> thresholds = {0.5f, 0.3f, 0.2f, 0.1f, 0.05f, 0.02f, 0.01f};
  nlohmann::json out = {{"configured_threshold", configured}, {"sets", nlohmann::json::array()}};
  // The highest threshold that flags at most 5% of the live faces of every set.
  float highest_ok = 0;
  for (float t : thresholds) {
    bool ok = true;
    for (const auto& set : sets) ok = ok && FlaggedShare(set.scores, t) <= 0.05;
    if (ok) highest_ok = std::max(highest_ok, t);
  }
  for (auto& set : sets) {
    std::sort(set.scores.begin(), set.scores.end());
    auto quantile = [&](double q) {
      return set.scores.empty() ? 0.f : set.scores[size_t(q * double(set.scores.size() - 1))];
    };
    nlohmann::json flagged;
    for (float t : thresholds) {
      char key[16];
      std::snprintf(key, sizeof key, "%.2f", t);
      flagged[key] = FlaggedShare(set.scores, t);
    }
    out["sets"].push_back({{"set", set.name},
                           {"faces", set.scores.size()},
                           {"flagged_at_configured", FlaggedShare(set.scores, configured)},
                           {"flagged_below", flagged},
                           {"live_score_p05", quantile(0.05)},
                           {"live_score_median", quantile(0.5)}});
  }
  out["highest_threshold_flagging_at_most_5pct"] = highest_ok;
  return out;
}

Result<nlohmann::json> EvaluateClustering(const Config& config, const std::string& data,
                                          const ClusterStreamOptions& opt) {
  auto engine = FaceEngine::Create(config.vision);
  if (!engine.ok()) return engine.status();
  const ImageLimits limits{config.vision.max_image_bytes, config.vision.max_image_pixels};
  const fs::path lfw = fs::path(data) / "lfw";
  std::ifstream in((lfw / "people.txt").string());
  // Each person's photos that the data set holds (it keeps only those the pairs files name).
  std::map<std::string, std::vector<int>> held;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string name;
    int n = 0;
    if (!(ls >> name >> n) || held.count(name)) continue;
    std::vector<int>& photos = held[name];
    for (int i = 1; i <= n; ++i)
      if (fs::exists(LfwImage(lfw.string(), name, i))) photos.push_back(i);
  }
  std::mt19937 rng(20261206);
  std::vector<std::pair<std::string, std::vector<int>>> returning, singles;
  for (auto& [name, photos] : held) {
    std::shuffle(photos.begin(), photos.end(), rng);
    if (photos.size() >= 4) {
      photos.resize(std::min(photos.size(), opt.max_photos));
      returning.emplace_back(name, photos);
    } else if (photos.size() == 1) {
      singles.emplace_back(name, photos);
    }
  }
  if (returning.empty()) return Status::NotFound("no LFW people.txt under " + data);
  std::shuffle(returning.begin(), returning.end(), rng);
  std::shuffle(singles.begin(), singles.end(), rng);
  returning.resize(std::min(returning.size(), opt.people));
  singles.resize(std::min(singles.size(), opt.singles));

  constexpr int64_t kT0 = 1'790'000'000'000;
  constexpr int64_t kWeekMs = 6 * 24 * 3'600'000LL;  // inside the 7-day window
  std::uniform_int_distribution<int64_t> when(0, kWeekMs);
  std::vector<LabelledFace> faces;
  auto add = [&](const std::string& name, int index, int64_t at_ms) -> Status {
    ASSIGN_OR_RETURN(const Descriptor d, EmbedCentralFace(**engine, LfwImage(lfw.string(), name, index), limits));
    if (d.empty()) return Status::Ok();
    faces.push_back({name + "_" + std::to_string(index), name, kT0 + at_ms, d.front().vector, 0.5f});
    return Status::Ok();
  };
  for (const auto& [name, photos] : returning) {
    int64_t visit_ms = 0;
    for (size_t i = 0; i < photos.size(); ++i) {
      if (i % std::max<size_t>(1, opt.per_visit) == 0) visit_ms = when(rng);
      if (Status s = add(name, photos[i], visit_ms + int64_t(i % opt.per_visit) * 2000); !s.ok())
        return s;
    }
  }
  for (const auto& [name, photos] : singles)
    if (Status s = add(name, photos.front(), when(rng)); !s.ok()) return s;
  spdlog::info("replaying {} faces of {} returning and {} single strangers", faces.size(),
               returning.size(), singles.size());

  auto db = Database::OpenSqlite(":memory:", 1000);
  if (!db.ok()) return db.status();
  const NotifyConfig& notify = config.notify;
  auto clusters = NewSqliteStrangerClusters(db->get(), notify.cluster_threshold,
                                            int64_t{notify.cluster_window_hours} * 3'600'000,
                                            opt.merge);
  const auto start = std::chrono::steady_clock::now();
  auto score = ReplayClustering(*clusters, std::move(faces));
  if (!score.ok()) return score.status();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const nlohmann::json out = {
      {"faces", score->faces},
      {"people", score->people},
      {"returning_people", score->returning},
      {"faces_per_visit", opt.per_visit},
      {"cluster_threshold", notify.cluster_threshold},
      {"merge_as_evidence_grows", opt.merge},
      {"clusters", score->clusters},
      {"merges", score->merges},
      {"cards_per_returning_stranger", score->cards_per_returning},
      {"one_card_share", score->one_card_share},
      {"mixed_clusters", score->mixed_clusters},
      {"bcubed_precision", score->bcubed_precision},
      {"bcubed_recall", score->bcubed_recall},
      {"bcubed_f1", score->bcubed_f1},
      {"ms_per_face", 1000 * seconds / double(std::max<size_t>(1, score->faces))}};
  return out;
}

}  // namespace concierge
