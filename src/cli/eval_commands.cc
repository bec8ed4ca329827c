// `concierge eval lfw|detect|identify|live|cluster`: accuracy on the shared
// face data. The protocols are app/evaluation.h's; this prints their figures.
#include <cstdio>
#include <functional>
#include <string>

#include "app/evaluation.h"
#include "cli/cli.h"

namespace concierge::cli {

namespace {

// Runs `evaluate` with the context's config; prints its JSON with --json,
// else the text `print` makes of it.
int RunEval(Context& ctx,
            const std::function<Result<nlohmann::json>(const Config&)>& evaluate,
            const std::function<void(const nlohmann::json&)>& print) {
  auto config = ctx.config();
  if (!config.ok()) return Fail(ctx, config.status());
  auto out = evaluate(**config);
  if (!out.ok()) return Fail(ctx, out.status());
  if (ctx.json()) PrintJson(*out);
  else print(*out);
  return kExitOk;
}

void PrintLfw(const nlohmann::json& out, bool view1) {
  auto line = [&](const std::string& label, const nlohmann::json& f) {
    if (view1)
      std::printf("%-34s accuracy %.2f%% at threshold %.3f", label.c_str(),
                  100 * f["accuracy"].get<double>(), f["threshold"].get<float>());
    else
      std::printf("%-34s %.2f%% ± %.2f (10 folds)", label.c_str(),
                  100 * f["accuracy_mean"].get<double>(), 100 * f["accuracy_std"].get<double>());
    std::printf(", TAR %.2f%% at FAR 1e-3\n", 100 * f["tar_at_far_1e-3"].get<double>());
  };
  std::printf("%s, %zu pairs, %.1f ms per image\n", out["protocol"].get<std::string>().c_str(),
              out["pairs"].get<size_t>(), out["ms_per_image"].get<double>());
  for (const auto& [model, figures] : out["models"].items()) line(model, figures);
  line("fused", out["fused"]);
}

void PrintDetection(const nlohmann::json& out) {
  auto line = [](const char* set, const nlohmann::json& t) {
    const nlohmann::json& human = t["human_faces"];
    std::printf("%s: recall %.2f%% (%d/%d faces) at IoU 0.4; detector alone %.2f%%; %.1f ms/image\n",
                set, 100 * human["recall"].get<double>(), human["found"].get<int>(),
                human["faces"].get<int>(), 100 * t["all_detections"]["recall"].get<double>(),
                t["ms_per_image"].get<double>());
  };
  line("FDDB folds 01-02", out["fddb_folds_01_02"]);
  line("dlib testing.xml", out["dlib_testing"]);
  const nlohmann::json& n = out["negatives"];
  std::printf("negatives: %d false detections in %d images (%.3f per image); detector alone %d "
              "(%.3f); The Scream: %d faces\n",
              n["false_detections"].get<int>(), n["images"].get<int>(),
              n["false_detections_per_image"].get<double>(), n["detector_false_detections"].get<int>(),
              n["detector_false_detections_per_image"].get<double>(),
              n["scream_painting_faces"].get<int>());
}

void PrintIdentification(const nlohmann::json& out) {
  std::printf("gallery %zu people (%zu photos), %zu known probes, %zu stranger probes\n",
              out["enrolled_people"].get<size_t>(), out["enrolled_photos"].get<size_t>(),
              out["known_probes"].get<size_t>(), out["stranger_probes"].get<size_t>());
  auto line = [](const char* label, const nlohmann::json& r) {
    std::printf("%-44s recall %.2f%%, misidentified %.2f%%, false welcomes %.3f%% (%d)\n", label,
                100 * r["recall"].get<double>(), 100 * r["misidentified"].get<double>(),
                100 * r["false_welcome_rate"].get<double>(), r["false_welcomes"].get<int>());
  };
  const nlohmann::json& calibrated = out["calibrated"];
  char label[96];
  std::snprintf(label, sizeof(label), "calibrated for %.3f%% (cosine %.3f)",
                100 * calibrated["target_false_welcome_rate"].get<double>(),
                calibrated["primary_threshold"].get<double>());
  line(label, calibrated);
  line("best threshold, primary model alone", out["best_threshold"]["primary"]);
  line("best threshold, fused", out["best_threshold"]["fused"]);
  std::printf("second opinion asked for %.1f%% of probes\n",
              100 * calibrated["second_opinion_share"].get<double>());
}

void PrintLiveFlag(const nlohmann::json& out) {
  const double configured = out["configured_threshold"].get<double>();
  for (const auto& s : out["sets"])
    std::printf("%s: %d faces, %.1f%% flagged at %.2f; live score 5th percentile %.3f, median %.3f\n",
                s["set"].get<std::string>().c_str(), s["faces"].get<int>(),
                100 * s["flagged_at_configured"].get<double>(), configured,
                s["live_score_p05"].get<float>(), s["live_score_median"].get<float>());
  std::printf("highest threshold flagging at most 5%% of live faces in every set: %.2f\n",
              out["highest_threshold_flagging_at_most_5pct"].get<double>());
}

void PrintClustering(const nlohmann::json& out) {
  std::printf("%zu faces of %zu strangers (%zu returning), threshold %.2f, merging %s\n",
              out["faces"].get<size_t>(), out["people"].get<size_t>(),
              out["returning_people"].get<size_t>(), out["cluster_threshold"].get<double>(),
              out["merge_as_evidence_grows"].get<bool>() ? "on" : "off");
  std::printf("cards per returning stranger: %.2f (one card: %.1f%%); %zu clusters, %zu merges\n",
              out["cards_per_returning_stranger"].get<double>(),
              100 * out["one_card_share"].get<double>(), out["clusters"].get<size_t>(),
              out["merges"].get<size_t>());
  std::printf("clusters mixing people: %zu; BCubed precision %.3f, recall %.3f, F1 %.3f\n",
              out["mixed_clusters"].get<size_t>(), out["bcubed_precision"].get<double>(),
              out["bcubed_recall"].get<double>(), out["bcubed_f1"].get<double>());
}

}  // namespace

void RegisterEvalCommands(CLI::App& app, Context& ctx, Runner* slot) {
  CLI::App* eval = app.add_subcommand("eval", "Measure accuracy on the shared face data");
  eval->require_subcommand(1);
  static std::string data = "../shared/data";
  static bool view1 = false;
  CLI::App* lfw = AddCommand(*eval, "lfw", "LFW verification (View 2, 10 folds)", slot,
                             [&ctx] {
                               return RunEval(
                                   ctx, [](const Config& c) { return EvaluateLfw(c, data, view1); },
                                   [](const nlohmann::json& out) { PrintLfw(out, view1); });
                             });
  lfw->add_option("--data", data, "Face data folder (holds lfw/)");
  lfw->add_flag("--view1", view1, "Use View 1 (pairsDevTest) for tuning");

  AddCommand(*eval, "detect", "Detection recall on FDDB and dlib; false detections on negatives", slot,
             [&ctx] {
               return RunEval(
                   ctx, [](const Config& c) { return EvaluateDetection(c, data); }, PrintDetection);
             })
      ->add_option("--data", data, "Face data folder (holds detection/ and negatives/)");

  static size_t lfw_people = 300, per_person = 1, strangers = 1500;
  CLI::App* identify = AddCommand(*eval, "identify", "Open-set identification: recall and false welcomes",
                                  slot, [&ctx] {
                                    return RunEval(
                                        ctx,
                                        [](const Config& c) {
                                          return EvaluateIdentification(c, data, lfw_people,
                                                                        per_person, strangers);
                                        },
                                        PrintIdentification);
                                  });
  identify->add_option("--data", data, "Face data folder (holds enroll/ and lfw/)");
  identify->add_option("--lfw-people", lfw_people, "LFW people to enroll");
  identify->add_option("--per-person", per_person, "Photos enrolled per person");
  identify->add_option("--strangers", strangers,
                       "Photos of never-enrolled people to probe (0: every one there is)");

  static size_t live_lfw_people = 1000;
  CLI::App* live = AddCommand(*eval, "live", "How often live faces are flagged as photo/screen", slot,
                              [&ctx] {
                                return RunEval(
                                    ctx,
                                    [](const Config& c) {
                                      return EvaluateLiveFlag(c, data, live_lfw_people);
                                    },
                                    PrintLiveFlag);
                              });
  live->add_option("--data", data, "Face data folder (holds lfw/, videos/, detection/)");
  live->add_option("--lfw-people", live_lfw_people, "LFW people (one photo each)");

  static ClusterStreamOptions stream;
  static bool no_merge = false;
  CLI::App* cluster =
      AddCommand(*eval, "cluster", "Stranger clustering: cards per stranger, mixed cards", slot,
                 [&ctx] {
                   ClusterStreamOptions opt = stream;
                   opt.merge = !no_merge;
                   return RunEval(
                       ctx, [&](const Config& c) { return EvaluateClustering(c, data, opt); },
                       PrintClustering);
                 });
  cluster->add_option("--data", data, "Face data folder (holds lfw/)");
  cluster->add_option("--people", stream.people, "Returning strangers (LFW, >= 4 photos)");
  cluster->add_option("--singles", stream.singles, "Strangers seen once");
  cluster->add_option("--max-photos", stream.max_photos, "Photos per returning stranger");
  cluster->add_option("--per-visit", stream.per_visit, "Faces per visit")
      ->check(CLI::Range(1, 50));
  cluster->add_flag("--no-merge", no_merge, "Never merge clusters as evidence grows");
}

}  // namespace concierge::cli
