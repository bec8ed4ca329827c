// `concierge reindex` and `calibrate`: the face collection after a model
// change, and the match threshold calibrated to the gallery.
#include <cstdio>

#include "cli/cli.h"
#include "app/services.h"
#include "core/clock.h"
#include "http/resource_json.h"
#include "pipeline/calibration_report.h"
#include "pipeline/face_search.h"
#include "pipeline/reindex.h"

namespace concierge::cli {

namespace {

// Runs `body(services, matcher, sightings)` over the saved config's services,
// read-only: what calibrate and search both read.
template <typename Body>
int WithMatcher(Context& ctx, Body body) {
  auto config = ctx.saved_config(Database::Access::kReadOnly);
  if (!config.ok()) return Fail(ctx, config.status());
  Services services(**config, Database::Access::kReadOnly);
  auto matcher = services.matcher();
  if (!matcher.ok()) return Fail(ctx, matcher.status());
  auto sightings = services.sightings();
  if (!sightings.ok()) return Fail(ctx, sightings.status());
  return body(services, **matcher, **sightings);
}

int RunReindex(Context& ctx) {
  auto config = ctx.saved_config();
  if (!config.ok()) return Fail(ctx, config.status());
  Services services(**config);
  auto engine = services.engine();
  if (!engine.ok()) return Fail(ctx, engine.status());
  auto faces = services.faces();
  if (!faces.ok()) return Fail(ctx, faces.status());
  auto objects = services.objects();
  if (!objects.ok()) return Fail(ctx, objects.status());
  auto sightings = services.sightings();
  if (!sightings.ok()) return Fail(ctx, sightings.status());
  auto outcome = Reindex(**engine, **faces, **objects, *sightings, services.image_limits(),
                         ctx.json() ? ReindexProgress() : ShowProgress);
  if (!outcome.ok()) return Fail(ctx, outcome.status());
  nlohmann::json models = nlohmann::json::array();
  for (const auto& s : (*faces)->spaces()) models.push_back(s.model);
  const nlohmann::json out = {{"collection", (*faces)->name()},
                              {"models", models},
                              {"faces", outcome->faces},
                              {"already_current", outcome->current},
                              {"reembedded", outcome->reembedded},
                              {"unreadable", outcome->unreadable},
                              {"negatives_reembedded", outcome->negatives_reembedded},
                              {"negatives_dropped", outcome->negatives_dropped}};
  if (ctx.json()) {
    PrintJson(out);
  } else {
    std::printf("collection %s: %zu faces, %zu re-embedded, %zu already current\n",
                (*faces)->name().c_str(), outcome->faces, outcome->reembedded, outcome->current);
    if (outcome->unreadable)
      std::printf("%zu faces have no usable picture and stay out of search; re-enrol them\n",
                  outcome->unreadable);
    if (outcome->negatives_reembedded || outcome->negatives_dropped)
      std::printf("\"not me\" examples: %zu re-embedded, %zu dropped (picture gone)\n",
                  outcome->negatives_reembedded, outcome->negatives_dropped);
  }
  return outcome->unreadable ? kExitBadInput : kExitOk;
}

int RunCalibrate(Context& ctx, double proposed_rate, int days, size_t look_alikes) {
  return WithMatcher(ctx, [&](Services& services, Matcher& matcher, SightingStore& sightings) {
    auto report = MakeCalibrationReport(**services.engine(), **services.faces(), matcher,
                                        &sightings, proposed_rate, days, NowMs());
    if (!report.ok()) return Fail(ctx, report.status());
    if (report->look_alikes.size() > look_alikes) report->look_alikes.resize(look_alikes);
    if (ctx.json()) {
      PrintJson(CalibrationReportJson(*report));
      return int(kExitOk);
    }
    const Calibration& c = report->in_force;
    std::printf("collection %s: %zu people with faces, %zu faces", report->collection.c_str(),
                c.persons, report->faces);
    if (report->stale_faces)
      std::printf(" (+%zu made by other models: run `concierge reindex`)", report->stale_faces);
    std::printf("\nthreshold in force for %.3f%% false welcomes: cosine %.3f (fused %.2f);"
                " second opinion between %.3f and %.3f\n",
                100 * c.target_false_welcome, c.primary_threshold, c.fused_threshold,
                c.primary_threshold - c.band_below, c.primary_threshold + c.band_above);
    if (!report->look_alikes.empty()) std::printf("look-alikes (closest other person):\n");
    for (const auto& l : report->look_alikes)
      std::printf("  %-24s %-24s %.3f%s\n", l.person_id.c_str(), l.other_id.c_str(), l.similarity,
                  l.similarity >= c.primary_threshold - c.band_below ? "  (close to the threshold)"
                                                                     : "");
    if (report->proposed) {
      std::printf("replay of the last %d days at %.3f%% (cosine %.3f): %zu sightings, %zu named "
                  "differently\n",
                  report->replay_days, 100 * report->proposed->target_false_welcome,
                  report->proposed->primary_threshold, report->replayed, report->changed.size());
      for (const auto& ch : report->changed)
        std::printf("  %s %s/%s visit %s: %s -> %s\n",
                    FormatIsoUtc(ch.sighting.captured_ms).c_str(), ch.sighting.site.c_str(),
                    ch.sighting.camera.c_str(),
                    ch.sighting.visit_id ? std::to_string(*ch.sighting.visit_id).c_str() : "-",
                    ch.sighting.person_id.value_or("unknown").c_str(),
                    ch.would_be.value_or("unknown").c_str());
    }
    return int(kExitOk);
  });
}

// Every visit of the face in `photo`, newest first: the same items as
// POST /api/v1/search.
int RunSearch(Context& ctx, const std::string& photo) {
  return WithMatcher(ctx, [&](Services& services, Matcher& matcher, SightingStore& sightings) {
    auto image = ReadImageFile(photo, services.image_limits());
    if (!image.ok()) return Fail(ctx, image.status());
    auto probe = SearchProbe(**services.engine(), *image);
    if (!probe.ok()) return Fail(ctx, probe.status());
    auto hits =
        FindVisitsOfFace(sightings, *probe, matcher.calibration().same_person_threshold, 0, 0);
    if (!hits.ok()) return Fail(ctx, hits.status());
    ApiContext api;
    api.sightings = &sightings;
    api.faces = *services.faces();
    nlohmann::json items = nlohmann::json::array();
    for (const VisitHit& hit : *hits) {
      auto visit = VisitHitJson(api, hit);
      if (!visit.ok()) return Fail(ctx, visit.status());
      items.push_back(std::move(*visit));
    }
    if (ctx.json()) {
      PrintJson({{"items", items}});
      return int(kExitOk);
    }
    if (items.empty()) std::printf("no visit of this face\n");
    for (const auto& v : items)
      std::printf("%s  %-10s %-12s %-24s similarity %.2f  visit %lld\n",
                  v["started"].get<std::string>().c_str(), v["site"].get<std::string>().c_str(),
                  v["camera"].is_string() ? v["camera"].get<std::string>().c_str() : "-",
                  v["person"].is_object() ? v["person"]["name"].get<std::string>().c_str()
                                          : "(stranger)",
                  v["similarity"].get<double>(), static_cast<long long>(v["id"].get<int64_t>()));
    return int(kExitOk);
  });
}

}  // namespace

void RegisterRecognitionCommands(CLI::App& app, Context& ctx, Runner* slot) {
  AddCommand(app, "reindex",
             "Embed every face again with the model pack's embedders (after a model change)",
             slot, [&ctx] { return RunReindex(ctx); });

  static double proposed_rate = 0;
  static int days = 7;
  static size_t look_alikes = 20;
  CLI::App* calibrate = AddCommand(
      app, "calibrate", "Show the match threshold calibrated to the gallery, look-alikes, and a replay",
      slot, [&ctx] { return RunCalibrate(ctx, proposed_rate, days, look_alikes); });
  calibrate->add_option("--target-rate", proposed_rate,
                        "Replay recent sightings at this false-welcome rate (e.g. 0.0005)")
      ->check(CLI::Range(1e-9, 0.5));
  calibrate->add_option("--days", days, "How many days of sightings to replay")
      ->check(CLI::Range(1, 3650));
  calibrate->add_option("--look-alikes", look_alikes, "How many look-alike pairs to list");

  static std::string photo;
  CLI::App* search =
      AddCommand(app, "search", "List every visit of the face in a photo, newest first", slot,
                 [&ctx] { return RunSearch(ctx, photo); });
  search->add_option("photo", photo, "A JPEG or PNG showing the face (the largest one is used)")
      ->required();
}

}  // namespace concierge::cli
