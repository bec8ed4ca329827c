// `concierge serve` (ingest and recognise off MQTT), `concierge run` (edge and
// server in one process over the in-process bus), and the read side:
// `concierge sightings` and `concierge visits`.
#include <charconv>
#include <cstdio>
#include <ctime>
#include <utility>

#include "app/server_pipeline.h"
#include "app/services.h"
#include "cli/cli.h"
#include "core/clock.h"
#include "http/resource_json.h"

namespace concierge::cli {

namespace {

int RunServe(Context& ctx, const ServeOptions& options) {
  auto loaded = ctx.config();
  if (!loaded.ok()) return Fail(ctx, loaded.status());
  const Status served = concierge::RunServe(**loaded, options);
  return served.ok() ? kExitOk : Fail(ctx, served);
}

int RunRun(Context& ctx, const EmbeddedOptions& options) {
  auto loaded = ctx.config();
  if (!loaded.ok()) return Fail(ctx, loaded.status());
  const Status ran = RunEmbedded(**loaded, options);
  return ran.ok() ? kExitOk : Fail(ctx, ran);
}

// Parses --since: an epoch in ms, an ISO-8601 UTC date or time
// (2026-11-23, 2026-11-23T08:59, 2026-11-23T08:59:01Z), or an age such as 90s, 15m, 2h, 7d.
Result<int64_t> ParseSince(const std::string& text, int64_t now_ms) {
  if (text.empty()) return int64_t{0};
  const char unit = text.back();
  const std::string digits = text.substr(0, text.size() - 1);
  int64_t n = 0;
  auto whole_number = [&n](const std::string& s) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    return ec == std::errc() && end == s.data() + s.size() && n < (int64_t{1} << 42);
  };
  if ((unit == 's' || unit == 'm' || unit == 'h' || unit == 'd') && whole_number(digits)) {
    const int64_t unit_ms = unit == 's'   ? 1000
                            : unit == 'm' ? 60'000
                            : unit == 'h' ? 3'600'000
                                          : 86'400'000;
    return now_ms - n * unit_ms;
  }
  if (text.size() > 8 && whole_number(text)) return n;
  std::tm tm{};
  for (const char* format : {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"}) {
    tm = {};
    const char* end = strptime(text.c_str(), format, &tm);
    if (end && (*end == 0 || std::string(end) == "Z")) return int64_t{timegm(&tm)} * 1000;
  }
  return Status::InvalidArgument(
      "--since '" + text + "' is not a time (2026-11-23T08:00Z), an age (15m, 2h, 7d) or epoch ms");
}

struct ListOptions {
  std::string since;
  int limit = 100;
  std::string camera;
  std::string person;
  bool unknown = false;
};

// Runs `body` with the sighting store opened read-only, reporting open errors.
template <typename Body>
int WithSightings(Context& ctx, const ListOptions& opts, Body body) {
  auto config = ctx.config();
  if (!config.ok()) return Fail(ctx, config.status());
  auto since = ParseSince(opts.since, NowMs());
  if (!since.ok()) return Fail(ctx, since.status());
  Services services(**config, Database::Access::kReadOnly);
  auto store = services.sightings();
  if (!store.ok()) return Fail(ctx, store.status());
  // The API's JSON shapes; names come from the collection when there is one.
  ApiContext shapes;
  shapes.sightings = *store;
  auto faces = services.faces();
  shapes.faces = faces.ok() ? *faces : nullptr;
  return body(**store, *since, shapes);
}

int RunSightings(Context& ctx, const ListOptions& opts) {
  return WithSightings(
      ctx, opts, [&](SightingStore& store, int64_t since, const ApiContext& shapes) {
        auto list = store.List({since, opts.limit, opts.camera, opts.person, opts.unknown});
        if (!list.ok()) return Fail(ctx, list.status());
        nlohmann::json out = nlohmann::json::array();
        for (const auto& s : *list) {
          out.push_back(SightingResourceJson(shapes, s));
          if (!ctx.json())
            std::printf("%s  %-24s %-12s %-10s %-20s sim %-6s live %-5s %s\n", s.id.c_str(),
                        FormatIsoUtc(s.captured_ms).c_str(), s.camera.c_str(), ToString(s.decision),
                        s.person_id.value_or("-").c_str(),
                        s.similarity ? std::to_string(*s.similarity).substr(0, 5).c_str() : "-",
                        s.live_score < 0 ? "-" : std::to_string(s.live_score).substr(0, 4).c_str(),
                        s.image_key.c_str());
        }
        if (ctx.json()) PrintJson({{"sightings", out}});
        return int(kExitOk);
      });
}

int RunVisits(Context& ctx, const ListOptions& opts) {
  return WithSightings(
      ctx, opts, [&](SightingStore& store, int64_t since, const ApiContext& shapes) {
        auto list = store.ListVisits(since, opts.limit);
        if (!list.ok()) return Fail(ctx, list.status());
        nlohmann::json out = nlohmann::json::array();
        for (const auto& v : *list) {
          auto visit = VisitResourceJson(shapes, v);
          if (!visit.ok()) return Fail(ctx, visit.status());
          out.push_back(std::move(*visit));
          if (!ctx.json())
            std::printf("%-6lld %-12s %-20s %s .. %s  %d sightings\n", static_cast<long long>(v.id),
                        v.site.c_str(), v.person_id.value_or("(stranger)").c_str(),
                        FormatIsoUtc(v.started_ms).c_str(), FormatIsoUtc(v.last_ms).c_str(),
                        v.sightings);
        }
        if (ctx.json()) PrintJson({{"visits", out}});
        return int(kExitOk);
      });
}

}  // namespace

void RegisterServeCommands(CLI::App& app, Context& ctx, Runner* slot) {
  static ServeOptions serve_options;
  static EmbeddedOptions run;
  static ListOptions list;

  CLI::App* serve =
      AddCommand(app, "serve", "Ingest and recognise sightings from MQTT until stopped", slot,
                 [&ctx] { return RunServe(ctx, serve_options); });
  serve->add_option(
      "--client-id", serve_options.client_id,
      "MQTT client id; keep it stable across restarts (default concierge-serve-<host>)");
  serve->add_flag("--retire", serve_options.retire,
                  "Retire a stopped server for good: take what the broker queued for its "
                  "sessions, then end them so they no longer take a share of the sightings");

  CLI::App* run_cmd =
      AddCommand(app, "run", "Edge and server in one process (the embedded default)", slot,
                 [&ctx] { return RunRun(ctx, run); });
  run_cmd->add_option(
      "--source", run.source,
      "Camera source: device, URL, video file or folder (default <data-dir>/inbox)");
  run_cmd->add_flag("--once", run.once, "Process a file or folder source to its end, drain, exit");
  run_cmd->add_flag("--keep-serving", run.keep_serving,
                    "With --once: keep the web UI and API up after the sources end, until stopped");

  auto add_list_options = [](CLI::App* cmd) {
    cmd->add_option("--since", list.since,
                    "Only since: 2026-11-23T08:00Z, an age (15m, 2h, 7d) or epoch ms");
    cmd->add_option("--limit", list.limit, "At most this many, newest first (0: all)");
  };
  CLI::App* sightings = AddCommand(app, "sightings", "List recorded sightings", slot,
                                   [&ctx] { return RunSightings(ctx, list); });
  add_list_options(sightings);
  sightings->add_option("--camera", list.camera, "Only this camera");
  sightings->add_option("--person", list.person, "Only this person");
  sightings->add_flag("--unknown", list.unknown, "Only unknown faces");

  CLI::App* visits =
      AddCommand(app, "visits", "List visits", slot, [&ctx] { return RunVisits(ctx, list); });
  add_list_options(visits);
}

}  // namespace concierge::cli
