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
#include "store/settings_store.h"

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

// Removes the objects a reset (null) left empty, so the stored settings hold
// only what was set.
void DropEmptyObjects(nlohmann::json& doc) {
  for (auto it = doc.begin(); it != doc.end();) {
    if (it->is_object()) DropEmptyObjects(*it);
    if (it->is_object() && it->empty()) it = doc.erase(it);
    else ++it;
  }
}

// The part of `patch` that changes `before` (numbers compared at float
// precision; a null, a reset, always kept), so sending back what GET showed
// stores nothing and the config file's later edits are not shadowed.
nlohmann::json ChangesOnly(const nlohmann::json& patch, const nlohmann::json& before) {
  nlohmann::json changes = nlohmann::json::object();
  for (const auto& [key, value] : patch.items()) {
    const auto old = before.is_object() ? before.find(key) : before.end();
    const bool had = before.is_object() && old != before.end();
    if (value.is_object() && had && old->is_object()) {
      nlohmann::json inner = ChangesOnly(value, *old);
      if (!inner.empty()) changes[key] = std::move(inner);
      continue;
    }
    nlohmann::json a = value, b = had ? *old : nlohmann::json();
    RoundToFloat(a);
    RoundToFloat(b);
    if (value.is_null() || a != b) changes[key] = value;
  }
  return changes;
}

class AdminRoutes {
 public:
  explicit AdminRoutes(const ApiContext& ctx) : ctx_(ctx) {}

  void GetSettings(const httplib::Request&, httplib::Response& res, const Principal&) {
    if (!Have(ctx_.settings, "the settings store", res)) return;
    std::lock_guard<std::mutex> lock(ConfigFileMutex());
    auto file_doc = ReadConfigFile(ctx_.config->ConfigFilePath());
    if (!file_doc.ok()) return SendError(res, file_doc.status());
    auto stored = ctx_.settings->Load();
    if (!stored.ok()) return SendError(res, stored.status());
    const nlohmann::json document = SettingsDocument(*file_doc, *stored);
    auto config = ConfigFromJson(document);
    if (!config.ok())
      return SendError(res, Status::FailedPrecondition("the saved settings are invalid: " +
                                                       config.status().message()));
    SendJson(res, {{"settings", SettingsJson(*config)},
                   {"file", ctx_.config->ConfigFilePath()},
                   {"shared", ctx_.config->database.kind == "postgres"},
                   {"file_only", kFileOnlySettings},
                   {"restart_required", ChangedKeys(ctx_.settings_in_force, document)}});
  }

  // Secrets go to this server's config file, every other setting to the
  // settings store (the database), in one step: the store's update holds its
  // lock (on every server) while the file is written.
  void PutSettings(const httplib::Request& req, httplib::Response& res, const Principal& who) {
    auto patch = ReadJsonObject(req, res);
    if (!patch) return;
    if (!Have(ctx_.settings, "the settings store", res)) return;
    DropRedacted(*patch);
    nlohmann::json storable, file_part;
    SplitSettingsPatch(*patch, &storable, &file_part);

    std::lock_guard<std::mutex> lock(ConfigFileMutex());
    const std::string path = ctx_.config->ConfigFilePath();
    auto file_doc = ReadConfigFile(path);
    if (!file_doc.ok()) return SendError(res, file_doc.status());
    std::vector<std::string> changed;
    nlohmann::json after;
    const Status saved = ctx_.settings->Update([&](nlohmann::json& stored) -> Status {
      const nlohmann::json before = SettingsDocument(*file_doc, stored);
      nlohmann::json new_file = *file_doc;
      new_file.merge_patch(file_part);
      nlohmann::json new_stored = stored;
      // Over the defaults too: a value equal to its default is no change.
      nlohmann::json shown = RedactedConfig(Config{});
      shown.merge_patch(before);
      new_stored.merge_patch(ChangesOnly(storable, shown));
      DropEmptyObjects(new_stored);
      after = SettingsDocument(new_file, new_stored);
      RETURN_IF_ERROR(ConfigFromJson(after).status());
      changed = ChangedKeys(before, after);
      for (const std::string& key : changed) {
        if (IsFileOnlySetting(key))
          return Status::InvalidArgument(key + " can be set only in the config file or the "
                                               "environment, not through the API");
      }
      if (new_file != *file_doc)
        RETURN_IF_ERROR(WriteFileAtomically(path, new_file.dump(2) + "\n"));
      stored = std::move(new_stored);
      return Status::Ok();
    });
    if (!saved.ok()) return SendError(res, saved);
    if (!changed.empty()) {
      spdlog::info("http: settings saved by={} keys={}", who.actor, changed.size());
      AuditAction(ctx_, who, "settings", "config", {{"changed", changed}});
    }
    // A server reads its settings when it starts, so every change waits for a restart.
    SendJson(res, {{"settings", SettingsJson(*ConfigFromJson(after))},
                   {"changed", changed},
                   {"restart_required", ChangedKeys(ctx_.settings_in_force, after)}});
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
