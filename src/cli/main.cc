// `concierge`: one binary, one subcommand per job.
#include <iostream>

#include "cli/cli.h"
#include "core/log.h"

int main(int argc, char** argv) {
  using namespace concierge::cli;
  CLI::App app{"Concierge: a self-hosted office concierge and intruder detector"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags may follow the subcommand
  app.set_version_flag("--version", CONCIERGE_VERSION);
  GlobalOptions options;
  app.add_option("--data-dir", options.data_dir,
                 "Where the database, objects and config live (env CONCIERGE_DATA_DIR)");
  app.add_option("--config", options.config_file, "Config file (default <data-dir>/config.json)");
  app.add_option("--log-level", options.log_level, "trace, debug, info, warn, error or off");
  app.add_flag("--json", options.json, "Print one JSON document on stdout");

  Context ctx(&options);
  Runner runner;
  RegisterVisionCommands(app, ctx, &runner);
  RegisterPeopleCommands(app, ctx, &runner);
  RegisterEvalCommands(app, ctx, &runner);
  RegisterServeCommands(app, ctx, &runner);
  RegisterEdgeCommands(app, ctx, &runner);
  RegisterUserCommands(app, ctx, &runner);
  RegisterAwsKeyCommands(app, ctx, &runner);
  RegisterRecognitionCommands(app, ctx, &runner);
  RegisterDoctorCommand(app, ctx, &runner);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  concierge::InitLogging(options.log_level.empty() ? "info" : options.log_level);
  return runner ? runner() : kExitUsage;
}
