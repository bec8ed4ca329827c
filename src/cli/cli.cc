#include "cli/cli.h"

#include <cstdio>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "app/services.h"
#include "core/clock.h"
#include "store/audit_log.h"

namespace concierge::cli {

Result<Config*> Context::config() {
  if (!config_) {
    ASSIGN_OR_RETURN(Config loaded, LoadConfig(options_->data_dir, options_->config_file));
    if (!options_->log_level.empty()) loaded.log_level = options_->log_level;
    config_ = std::make_unique<Config>(std::move(loaded));
  }
  return config_.get();
}

Result<Config*> Context::saved_config(Database::Access access) {
  ASSIGN_OR_RETURN(Config * loaded, config());
  if (!saved_applied_) {
    RETURN_IF_ERROR(ApplyStoredSettings(*loaded, access).status());
    saved_applied_ = true;
  }
  return loaded;
}

CLI::App* AddCommand(CLI::App& parent, const std::string& name, const std::string& help,
                     Runner* slot, Runner body) {
  CLI::App* cmd = parent.add_subcommand(name, help);
  cmd->callback([slot, body = std::move(body)] { *slot = body; });
  return cmd;
}

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case Status::Code::kOk: return kExitOk;
    case Status::Code::kNotFound: return kExitNotFound;
    case Status::Code::kInvalidArgument:
    case Status::Code::kTooLarge:
    case Status::Code::kAlreadyExists: return kExitBadInput;
    case Status::Code::kNoFace: return kExitNoFace;
    case Status::Code::kIoError: return kExitStorage;
    case Status::Code::kUnavailable: return kExitUnavailable;
    case Status::Code::kFailedPrecondition: return kExitSetup;
    case Status::Code::kPermissionDenied:
    case Status::Code::kInternal: return kExitInternal;
  }
  return kExitInternal;
}

int Fail(const Context& ctx, const Status& status) {
  if (ctx.json()) {
    PrintJson({{"error", {{"code", Status::CodeName(status.code())}, {"message", status.message()}}}});
  }
  std::cerr << "error: " << status.message() << "\n";
  return ExitCodeFor(status);
}

void PrintJson(const nlohmann::json& doc) { std::cout << doc.dump(2) << std::endl; }

void AuditFromCli(AuditLog& audit, const std::string& action, const std::string& target) {
  if (Status s = audit.Record("cli", action, target); !s.ok())
    std::cerr << "warning: not audited: " << s.message() << "\n";
}

nlohmann::json OptionalTime(int64_t ms) {
  return ms ? nlohmann::json(FormatIsoUtc(ms)) : nlohmann::json(nullptr);
}

void ShowProgress(size_t done, size_t total) {
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(kWidth * done / std::max<size_t>(total, 1));
  std::fprintf(stderr, "\r[%s%s] %zu/%zu", std::string(filled, '#').c_str(),
               std::string(kWidth - filled, '.').c_str(), done, total);
  if (done == total) std::fprintf(stderr, "\n");
}

}  // namespace concierge::cli
