// The JSON form of PersonPreferences (core/types.h), one shape for the API,
// the CLI and both stores:
//   {"greeting": "usual" | "muted" | "once_a_day",
//    "alerts": "none" | "strangers",
//    "host": "<person id>" | null}
#pragma once

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "core/types.h"

namespace concierge {

nlohmann::json ToJson(const PersonPreferences& preferences);

// Strict: an object with only the keys above, each of its type; a missing key
// keeps its default. kInvalidArgument naming the key otherwise. The host is
// not checked here (the collection knows who exists).
Result<PersonPreferences> PersonPreferencesFromJson(const nlohmann::json& doc);

// As stored: ToJson's text, and its inverse ("" or "{}" give the defaults).
std::string PersonPreferencesText(const PersonPreferences& preferences);
Result<PersonPreferences> ParsePersonPreferencesText(const std::string& text);

}  // namespace concierge
