// `concierge doctor`: one line per check of src/app/doctor.h, or one JSON
// document; exit 8 when any check fails.
#include <cstdio>

#include "app/doctor.h"
#include "cli/cli.h"

namespace concierge::cli {

namespace {

int RunDoctorCommand(Context& ctx) {
  auto config = ctx.config();
  if (!config.ok()) return Fail(ctx, config.status());
  const std::vector<DoctorCheck> checks = RunDoctor(**config);
  bool all_ok = true;
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : checks) {
    all_ok = all_ok && c.ok;
    out.push_back({{"check", c.name}, {"ok", c.ok}, {"detail", c.detail},
                   {"fix", c.ok ? nlohmann::json(nullptr) : nlohmann::json(c.fix)}});
    if (ctx.json()) continue;
    if (c.ok) std::printf("ok   %s: %s\n", c.name.c_str(), c.detail.c_str());
    else std::printf("FAIL %s: %s; fix: %s\n", c.name.c_str(), c.detail.c_str(), c.fix.c_str());
  }
  if (ctx.json()) PrintJson({{"ok", all_ok}, {"checks", out}});
  return all_ok ? kExitOk : kExitSetup;
}

}  // namespace

void RegisterDoctorCommand(CLI::App& app, Context& ctx, Runner* slot) {
  AddCommand(app, "doctor",
             "Check models, database, object store, broker, Slack, cameras, disk and HTTP port",
             slot, [&ctx] { return RunDoctorCommand(ctx); });
}

}  // namespace concierge::cli
