// `concierge detect`, `identify` and `enroll`: the vision engine on photos.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <opencv2/imgproc.hpp>

#include "cli/cli.h"
#include "app/services.h"
#include "pipeline/enrol.h"
#include "store/face_collection.h"

namespace concierge::cli {

namespace fs = std::filesystem;

namespace {

nlohmann::json QualityJson(const FaceQuality& q) {
  return {{"size_px", q.size_px}, {"sharpness", q.sharpness}, {"yaw", q.yaw_deg},
          {"pitch", q.pitch_deg}, {"brightness", q.brightness}, {"score", q.score}};
}

nlohmann::json FaceJson(const FaceObservation& f) {
  return {{"box", {std::lround(f.box.x), std::lround(f.box.y), std::lround(f.box.w), std::lround(f.box.h)}},
          {"score", f.detector_score},
          {"human_score", f.human_score},
          {"live", f.live_score < 0 ? nlohmann::json(nullptr) : nlohmann::json(f.live_score)},
          {"quality", QualityJson(f.quality)}};
}

// Reads, decodes and analyses one photo and keeps its human faces; kNoFace
// when there are none (saying how many detections the human-face check refused).
Result<std::vector<FaceObservation>> AnalyzeFile(Services& services, const std::string& path,
                                                 const AnalyzeOptions& options, cv::Mat* image_out) {
  ASSIGN_OR_RETURN(FaceEngine * engine, services.engine());
  ASSIGN_OR_RETURN(cv::Mat image, ReadImageFile(path, services.image_limits()));
  ASSIGN_OR_RETURN(auto found, engine->Analyze(image, options));
  std::vector<FaceObservation> faces;
  for (auto& f : found)
    if (f.human) faces.push_back(std::move(f));
  if (faces.empty()) {
    const size_t refused = found.size();
    return Status::NoFace("no face found in " + path +
                          (refused ? " (" + std::to_string(refused) +
                                         " detection(s) failed the human-face check)"
                                   : ""));
  }
  if (image_out) *image_out = image;
  return faces;
}

void DrawFaces(cv::Mat& image, const std::vector<FaceObservation>& faces) {
  for (const auto& f : faces) {
    cv::rectangle(image, cv::Rect2f(f.box.x, f.box.y, f.box.w, f.box.h), {0, 255, 0}, 2);
    for (const auto& p : f.points) cv::circle(image, cv::Point2f(p.x, p.y), 2, {0, 0, 255}, -1);
    char label[32];
    std::snprintf(label, sizeof(label), "%.2f", f.detector_score);
    cv::putText(image, label, cv::Point2f(f.box.x, f.box.y - 4), cv::FONT_HERSHEY_SIMPLEX, 0.5, {0, 255, 0}, 1);
  }
}

int RunDetect(Context& ctx, const std::vector<std::string>& inputs, const std::string& draw) {
  auto config = ctx.config();
  if (!config.ok()) return Fail(ctx, config.status());
  Services services(**config);
  nlohmann::json all = nlohmann::json::array();
  Status first_error;
  for (const auto& path : ExpandImageInputs(inputs)) {
    cv::Mat image;
    auto faces =
        AnalyzeFile(services, path, {.embed = EmbedWith::kNone, .anti_spoof = true}, &image);
    if (!faces.ok()) {
      if (first_error.ok()) first_error = faces.status();
      std::cerr << "error: " << faces.status().message() << "\n";
      continue;
    }
    for (const auto& f : *faces) {
      nlohmann::json j = FaceJson(f);
      j["image"] = path;
      all.push_back(j);
      if (!ctx.json())
        std::printf("%s: face at [%d,%d,%d,%d] score %.2f quality %.2f live %.2f\n", path.c_str(),
                    int(f.box.x), int(f.box.y), int(f.box.w), int(f.box.h), f.detector_score,
                    f.quality.score, f.live_score);
    }
    if (!draw.empty()) {
      DrawFaces(image, *faces);
      if (Status written = WriteImageFile(draw, image); !written.ok()) return Fail(ctx, written);
    }
  }
  if (ctx.json()) PrintJson({{"faces", all}});
  return ExitCodeFor(first_error);
}

int RunIdentify(Context& ctx, const std::vector<std::string>& inputs, double target_rate) {
  auto config = ctx.saved_config(Database::Access::kReadOnly);
  if (!config.ok()) return Fail(ctx, config.status());
  Config tuned = **config;
  if (target_rate > 0) tuned.recognition.target_false_welcome_rate = target_rate;
  Services services(tuned, Database::Access::kReadOnly);
  auto matcher = services.matcher();
  if (!matcher.ok()) return Fail(ctx, matcher.status());
  auto collection = services.faces();
  if (!collection.ok()) return Fail(ctx, collection.status());
  FaceEngine* engine = *services.engine();
  nlohmann::json all = nlohmann::json::array();
  Status first_error;
  for (const auto& path : ExpandImageInputs(inputs)) {
    cv::Mat image;
    auto faces =
        AnalyzeFile(services, path, {.embed = EmbedWith::kPrimary, .anti_spoof = true}, &image);
    if (!faces.ok()) {
      if (first_error.ok()) first_error = faces.status();
      std::cerr << "error: " << faces.status().message() << "\n";
      continue;
    }
    for (const auto& f : *faces) {
      std::vector<FaceView> views{{image, f}};
      auto decision = (*matcher)->Decide(*engine, views);
      if (!decision.ok()) return Fail(ctx, decision.status());
      const bool known = decision->person_id.has_value();
      nlohmann::json j = FaceJson(f);
      j["image"] = path;
      j["similarity"] = decision->similarity.value_or(0.f);
      // An unknown face carries no person id at all, not even the runner-up.
      j["person"] = known ? nlohmann::json(*decision->person_id) : nlohmann::json(nullptr);
      j["name"] = nullptr;
      if (known) {
        auto person = (*collection)->GetPerson(*decision->person_id);
        if (person.ok()) j["name"] = person->display_name;
      }
      all.push_back(j);
      if (!ctx.json())
        std::printf("%s: [%d,%d,%d,%d] %s (similarity %.3f, live %.2f)\n", path.c_str(), int(f.box.x),
                    int(f.box.y), int(f.box.w), int(f.box.h),
                    known ? j["name"].get<std::string>().c_str() : "unknown", j["similarity"].get<float>(),
                    f.live_score);
    }
  }
  if (ctx.json()) PrintJson({{"faces", all}});
  return ExitCodeFor(first_error);
}

struct EnrollOptions {
  std::string person;
  std::string name;
  bool largest = false;
};

// Enrolls the one face of `path` under the person. Returns the stored face id.
Result<int64_t> EnrollPhoto(Services& services, const EnrollOptions& opts, const std::string& path) {
  ASSIGN_OR_RETURN(FaceEngine * engine, services.engine());
  ASSIGN_OR_RETURN(FaceCollection * collection, services.faces());
  ASSIGN_OR_RETURN(ObjectStore * objects, services.objects());
  ASSIGN_OR_RETURN(cv::Mat image, ReadImageFile(path, services.image_limits()));
  EnrolFindings findings;
  const bool keep_picture = !services.config().retention.embeddings_only;
  auto enrolled = EnrolPhoto({engine, collection, keep_picture ? objects : nullptr,
                              services.config().quality},
                             {.person_id = opts.person, .display_name = opts.name,
                              .largest = opts.largest},
                             image, &findings);
  if (!enrolled.ok()) {
    // Name the photo, as the other commands do.
    if (enrolled.status().code() == Status::Code::kNoFace)
      return Status::NoFace("no face found in " + path);
    if (findings.faces_found > 1 && !opts.largest)
      return Status::InvalidArgument(enrolled.status().message() +
                                     "; use --largest to take the biggest");
    return enrolled.status();
  }
  return enrolled->face_id;
}

int RunEnroll(Context& ctx, const EnrollOptions& opts, const std::vector<std::string>& inputs) {
  auto config = ctx.saved_config();
  if (!config.ok()) return Fail(ctx, config.status());
  if (Status s = ValidateStoreId(opts.person); !s.ok()) return Fail(ctx, s);
  Services services(**config);
  const auto files = ExpandImageInputs(inputs);
  if (files.empty()) return Fail(ctx, Status::InvalidArgument("no photos given"));
  auto collection = services.faces();
  if (!collection.ok()) return Fail(ctx, collection.status());
  if (!opts.name.empty() && (*collection)->GetPerson(opts.person).ok()) {
    if (Status s = (*collection)->RenamePerson(opts.person, opts.name); !s.ok()) return Fail(ctx, s);
  }
  const bool folder = files.size() > 1 || fs::is_directory(inputs.front());
  nlohmann::json results = nlohmann::json::array();
  Status first_error;
  size_t accepted = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    auto id = EnrollPhoto(services, opts, files[i]);
    if (folder && !ctx.json()) ShowProgress(i + 1, files.size());
    if (id.ok()) {
      ++accepted;
      results.push_back({{"image", files[i]}, {"accepted", true}, {"face_id", *id}});
      if (!ctx.json()) std::printf("accepted %s (face %lld)\n", files[i].c_str(), static_cast<long long>(*id));
    } else {
      if (first_error.ok()) first_error = id.status();
      results.push_back({{"image", files[i]}, {"accepted", false}, {"reason", id.status().message()}});
      if (!ctx.json()) std::printf("rejected %s: %s\n", files[i].c_str(), id.status().message().c_str());
    }
  }
  // Open "who is this?" questions that were this person are answered now.
  nlohmann::json resolved = nlohmann::json::array();
  if (accepted > 0) {
    auto trainer = services.trainer();
    if (!trainer.ok()) return Fail(ctx, trainer.status());
    auto matcher = services.matcher();
    if (!matcher.ok()) return Fail(ctx, matcher.status());
    (*trainer)->SetMatcher(*matcher);
    auto strangers = (*trainer)->ResolveOpenStrangers(opts.person,
                                                       {"cli", "enroll", "person:" + opts.person});
    if (!strangers.ok()) return Fail(ctx, strangers.status());
    resolved = *strangers;
    if (!ctx.json() && !strangers->empty())
      std::printf("%zu open stranger%s recognised as %s and resolved\n", strangers->size(),
                  strangers->size() == 1 ? " was" : "s were", opts.person.c_str());
  }
  if (ctx.json())
    PrintJson({{"person", opts.person},
               {"accepted", accepted},
               {"photos", results},
               {"strangers_resolved", resolved}});
  // Every photo must be accepted for exit 0; accepted ones stay enrolled.
  return ExitCodeFor(first_error);
}

}  // namespace

void RegisterVisionCommands(CLI::App& app, Context& ctx, Runner* slot) {
  static std::vector<std::string> inputs;
  static std::string draw;
  static double target_rate = -1;
  static EnrollOptions enroll;

  CLI::App* detect = AddCommand(app, "detect", "Find faces in photos", slot,
                                [&ctx] { return RunDetect(ctx, inputs, draw); });
  detect->add_option("images", inputs, "Photos or folders")->required();
  detect->add_option("--draw", draw, "Write the last photo with boxes drawn to this JPEG");

  CLI::App* identify = AddCommand(app, "identify", "Name every face in photos", slot,
                                  [&ctx] { return RunIdentify(ctx, inputs, target_rate); });
  identify->add_option("images", inputs, "Photos or folders")->required();
  identify->add_option("--target-rate", target_rate,
                       "False-welcome rate to calibrate for (default: the config's)")
      ->check(CLI::Range(1e-9, 0.5));

  CLI::App* enroll_cmd = AddCommand(app, "enroll", "Teach a person's face from photos", slot,
                                    [&ctx] { return RunEnroll(ctx, enroll, inputs); });
  enroll_cmd->add_option("--person", enroll.person, "Person id (created if new)")->required();
  enroll_cmd->add_option("--name", enroll.name, "Display name");
  enroll_cmd->add_flag("--largest", enroll.largest, "Take the largest face when a photo has several");
  enroll_cmd->add_option("images", inputs, "Photos or a folder")->required();
}

}  // namespace concierge::cli
#include "vision/image_io.h"
