// The config file (<data_dir>/config.json) as the API edits it: read it as a
// document, replace it atomically. Routes that edit it (settings, cameras)
// hold ConfigFileMutex() from read to write, so no edit loses another.
#pragma once

#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace concierge {

// The one lock for read-modify-write cycles of the config file in this process.
std::mutex& ConfigFileMutex();

// The config file's own document ({} when there is none). kFailedPrecondition
// when it is not a JSON object, kIoError when it cannot be read.
Result<nlohmann::json> ReadConfigFile(const std::string& path);

// The settings document: the config file's own document with the settings
// saved in the database (SettingsStore) over it, only what they may hold.
nlohmann::json SettingsDocument(const nlohmann::json& file_doc, const nlohmann::json& stored);

// Writes `bytes` to `path` through a synced temporary file and a rename, so a
// crash leaves the old or the new file, never half of one. Mode 0600: it holds secrets.
Status WriteFileAtomically(const std::string& path, const std::string& bytes);

}  // namespace concierge
