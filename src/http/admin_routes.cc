#include "http/admin_routes.h"

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/json_limits.h"
#include "http/api_support.h"
#include "http/config_file.h"
#include "http/route_support.h"
#include "store/audit_log.h"

namespace concierge {

namespace {

// RedactedConfig shows secrets as this; a PUT that sends it back keeps the secret.
constexpr const char* kRedacted = "***";

// Drops every "***" string from a patch, so redacted secrets that the UI
// sends back unchanged keep their stored value.
void DropRedacted(nlohmann::json& patch) {
  if (!patch.is_object()) return;
  for (auto it = patch.begin(); it != patch.end();) {
    if (it->is_string() && it->get<std::string>() == kRedacted) {
      it = patch.erase(it);
      continue;
    }
    DropRedacted(*it);
    ++it;
  }
}

// Rounds every number to float precision, as Config holds them, so 0.61
// from a file and 0.61f read back through Config compare equal.
void RoundToFloat(nlohmann::json& doc) {
  if (doc.is_number_float()) doc = static_cast<double>(static_cast<float>(doc.get<double>()));
  if (doc.is_structured())
    for (auto& child : doc) RoundToFloat(child);
}

// Dotted paths ("recognition.gallery_cap") of the settings that two
// config files give different values, defaults filled in for absent keys.
std::vector<std::string> ChangedKeys(const nlohmann::json& before_file,
                                     const nlohmann::json& after_file) {
  // The defaults hold no secrets, so their redacted form is the plain one.
  nlohmann::json before = RedactedConfig(Config{});
  nlohmann::json after = before;
  before.merge_patch(before_file);
  after.merge_patch(after_file);
  RoundToFloat(before);
  RoundToFloat(after);
  std::vector<std::string> keys;
  for (const auto& op : nlohmann::json::diff(before, after)) {
    std::string key = op["path"].get<std::string>().substr(1);
    std::replace(key.begin(), key.end(), '/', '.');
    if (keys.empty() || keys.back() != key) keys.push_back(key);
  }
  return keys;
}

// What GET and PUT show: everything but data_dir (fixed per install), secrets masked.
nlohmann::json SettingsJson(const Config& config) {
  nlohmann::json doc = RedactedConfig(config);
  doc.erase("data_dir");
  return doc;
}

class AdminRoutes {
 public:
  explicit AdminRoutes(const ApiContext& ctx) : ctx_(ctx) {}

  void GetSettings(const httplib::Request&, httplib::Response& res, const Principal&) {
    std::lock_guard<std::mutex> lock(ConfigFileMutex());
    auto stored = StoredConfig();
    if (!stored.ok()) return SendError(res, stored.status());
    SendJson(res, {{"settings", SettingsJson(stored->second)},
                   {"file", ctx_.config->ConfigFilePath()},
                   {"file_only", kFileOnlySettings}});
  }

  void PutSettings(const httplib::Request& req, httplib::Response& res, const Principal& who) {
    auto patch = ReadJsonObject(req, res);
    if (!patch) return;
    DropRedacted(*patch);

    std::lock_guard<std::mutex> lock(ConfigFileMutex());
    auto stored = StoredConfig();
    if (!stored.ok()) return SendError(res, stored.status());
    nlohmann::json file_doc = stored->first;
    file_doc.merge_patch(*patch);
    auto updated = ConfigFromJson(file_doc);
    if (!updated.ok()) return SendError(res, updated.status());
    const std::vector<std::string> changed = ChangedKeys(stored->first, file_doc);
    for (const std::string& key : changed) {
      if (IsFileOnlySetting(key))
        return SendErrorCode(res, 400, key + " can be set only in the config file or the "
                                             "environment, not through the API");
    }
    if (!changed.empty()) {
      const std::string path = ctx_.config->ConfigFilePath();
      if (Status s = WriteFileAtomically(path, file_doc.dump(2) + "\n"); !s.ok())
        return SendError(res, s);
      spdlog::info("http: settings saved by={} keys={}", who.actor, changed.size());
      AuditAction(ctx_, who, "settings", "config", {{"changed", changed}});
    }
    // The server reads its config when it starts, so every change waits for a restart.
    SendJson(res, {{"settings", SettingsJson(*updated)},
                   {"changed", changed},
                   {"restart_required", changed}});
  }

  void ListAudit(const httplib::Request& req, httplib::Response& res, const Principal&) {
    const auto page = ReadPage(req, res);
    if (!page) return;
    if (!Have(ctx_.audit, "the audit log", res)) return;
    auto entries = ctx_.audit->List(page->limit, page->cursor);
    if (!entries.ok()) return SendError(res, entries.status());
    nlohmann::json items = nlohmann::json::array();
    for (const auto& e : entries->items)
      items.push_back({{"id", e.id},
                       {"at", FormatIsoUtc(e.at_ms)},
                       {"at_ms", e.at_ms},
                       {"actor", e.actor},
                       {"action", e.action},
                       {"target", e.target},
                       {"detail", e.detail}});
    SendJson(res, PageJson(std::move(items), entries->next_cursor));
  }

  void Restart(const httplib::Request&, httplib::Response& res, const Principal& who) {
    if (!ctx_.request_restart)
      return SendErrorCode(res, 503, "this server cannot restart itself; restart its service");
    // Audited first: the entry must be stored before the stop closes the log.
    AuditAction(ctx_, who, "restart", "server");
    spdlog::info("http: restart requested by={}", who.actor);
    SendJson(res, {{"restarting", true}}, 202);
    ctx_.request_restart();
  }

 private:
  // The config file's document and the config it gives over the defaults.
  Result<std::pair<nlohmann::json, Config>> StoredConfig() const {
    ASSIGN_OR_RETURN(nlohmann::json doc, ReadConfigFile(ctx_.config->ConfigFilePath()));
    auto config = ConfigFromJson(doc);
    if (!config.ok())
      return Status::FailedPrecondition(ctx_.config->ConfigFilePath() +
                                        " is invalid: " + config.status().message());
    return std::make_pair(std::move(doc), std::move(*config));
  }

  const ApiContext& ctx_;
};

}  // namespace

void RegisterAdminRoutes(httplib::Server& server, const ApiContext& ctx) {
  auto routes = std::make_shared<AdminRoutes>(ctx);
  server.Get("/api/v1/settings", Route(routes, ctx, Role::kAdmin, &AdminRoutes::GetSettings));
  server.Put("/api/v1/settings", Route(routes, ctx, Role::kAdmin, &AdminRoutes::PutSettings));
  server.Get("/api/v1/audit", Route(routes, ctx, Role::kAdmin, &AdminRoutes::ListAudit));
  server.Post("/api/v1/restart", Route(routes, ctx, Role::kAdmin, &AdminRoutes::Restart));
}

}  // namespace concierge
