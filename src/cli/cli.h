// Shared plumbing for the `concierge` subcommands: the loaded config, output
// mode, and the mapping from Status to exit codes.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/status.h"
#include "store/database.h"

namespace concierge {
class AuditLog;
}  // namespace concierge

namespace concierge::cli {

// Exit codes, stable for scripts (documented in README.md).
enum ExitCode : int {
  kExitOk = 0,
  kExitInternal = 1,
  kExitUsage = 2,
  kExitNotFound = 3,
  kExitBadInput = 4,
  kExitNoFace = 5,
  kExitStorage = 6,
  kExitUnavailable = 7,
  kExitSetup = 8,
};

// Global options, filled by CLI11 before any command runs.
struct GlobalOptions {
  std::string data_dir;
  std::string config_file;
  std::string log_level;
  bool json = false;
};

// What a command needs at run time. Created lazily so `--help` never touches disk.
class Context {
 public:
  explicit Context(GlobalOptions* options) : options_(options) {}
  // Loads the config once (flags override file and environment).
  Result<Config*> config();
  // config() with the settings saved through the API laid over it, as a
  // server runs with them (app/services.h ApplyStoredSettings): for commands
  // that open the database. `access` as the command opens it.
  Result<Config*> saved_config(Database::Access access = Database::Access::kReadWrite);
  bool json() const { return options_->json; }

 private:
  GlobalOptions* options_;
  std::unique_ptr<Config> config_;
  bool saved_applied_ = false;
};

// A command body: returns the process exit code.
using Runner = std::function<int()>;

// Registers a subcommand whose body runs after parsing succeeds.
CLI::App* AddCommand(CLI::App& parent, const std::string& name, const std::string& help,
                     Runner* slot, Runner body);

// Maps a Status to its exit code.
int ExitCodeFor(const Status& status);

// Prints "error: <message>" (or {"error":{code,message}} with --json) and
// returns the exit code for `status`.
int Fail(const Context& ctx, const Status& status);


// Writes one JSON document to stdout.
void PrintJson(const nlohmann::json& doc);

// Records `action` on `target` by "cli"; a failure only warns on stderr, as
// the change it records is already made.
void AuditFromCli(AuditLog& audit, const std::string& action, const std::string& target);

// A time in ms as ISO-8601 UTC, or null for 0 (never).
nlohmann::json OptionalTime(int64_t ms);

// Draws a progress bar "[####....] done/total" on stderr (ending the line at total).
void ShowProgress(size_t done, size_t total);

// Each command family registers itself here (one function per file).
void RegisterVisionCommands(CLI::App& app, Context& ctx, Runner* slot);
void RegisterPeopleCommands(CLI::App& app, Context& ctx, Runner* slot);
void RegisterEvalCommands(CLI::App& app, Context& ctx, Runner* slot);
void RegisterServeCommands(CLI::App& app, Context& ctx, Runner* slot);
void RegisterEdgeCommands(CLI::App& app, Context& ctx, Runner* slot);
void RegisterUserCommands(CLI::App& app, Context& ctx, Runner* slot);
void RegisterAwsKeyCommands(CLI::App& app, Context& ctx, Runner* slot);
void RegisterRecognitionCommands(CLI::App& app, Context& ctx, Runner* slot);
void RegisterDoctorCommand(CLI::App& app, Context& ctx, Runner* slot);

}  // namespace concierge::cli
