#include "core/person_preferences.h"

#include <array>
#include <string_view>
#include <utility>

namespace concierge {

namespace {

using Greeting = PersonPreferences::Greeting;
using Alerts = PersonPreferences::Alerts;

constexpr std::array<std::pair<Greeting, std::string_view>, 3> kGreetings = {
    {{Greeting::kUsual, "usual"}, {Greeting::kMuted, "muted"}, {Greeting::kOncePerDay, "once_a_day"}}};
constexpr std::array<std::pair<Alerts, std::string_view>, 2> kAlerts = {
    {{Alerts::kNone, "none"}, {Alerts::kStrangers, "strangers"}}};

template <typename Enum, size_t N>
std::string_view NameOf(const std::array<std::pair<Enum, std::string_view>, N>& names, Enum v) {
  for (const auto& [value, name] : names)
    if (value == v) return name;
  return names[0].second;
}

template <typename Enum, size_t N>
Result<Enum> ValueOf(const std::array<std::pair<Enum, std::string_view>, N>& names,
                     const nlohmann::json& field, const char* key) {
  if (field.is_string()) {
    const std::string& text = field.get_ref<const std::string&>();
    for (const auto& [value, name] : names)
      if (name == text) return value;
  }
  std::string allowed;
  for (const auto& [value, name] : names)
    allowed += (allowed.empty() ? "\"" : ", \"") + std::string(name) + "\"";
  return Status::InvalidArgument(std::string("preferences: ") + key + " must be one of " + allowed);
}

}  // namespace

nlohmann::json ToJson(const PersonPreferences& p) {
  return {{"greeting", std::string(NameOf(kGreetings, p.greeting))},
          {"alerts", std::string(NameOf(kAlerts, p.alerts))},
          {"host", p.host.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.host)}};
}

Result<PersonPreferences> PersonPreferencesFromJson(const nlohmann::json& doc) {
  if (!doc.is_object()) return Status::InvalidArgument("preferences must be a JSON object");
  PersonPreferences p;
  for (const auto& [key, value] : doc.items()) {
    if (key == "greeting") {
      ASSIGN_OR_RETURN(p.greeting, ValueOf(kGreetings, value, "greeting"));
    } else if (key == "alerts") {
      ASSIGN_OR_RETURN(p.alerts, ValueOf(kAlerts, value, "alerts"));
    } else if (key == "host") {
      if (!value.is_null() && !value.is_string())
        return Status::InvalidArgument("preferences: host must be a person id or null");
      p.host = value.is_string() ? value.get<std::string>() : "";
    } else {
      return Status::InvalidArgument("preferences: unknown key '" + key.substr(0, 64) + "'");
    }
  }
  return p;
}

std::string PersonPreferencesText(const PersonPreferences& p) { return ToJson(p).dump(); }

Result<PersonPreferences> ParsePersonPreferencesText(const std::string& text) {
  if (text.empty()) return PersonPreferences();
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::Internal("stored person preferences are not JSON");
  return PersonPreferencesFromJson(doc);
}

}  // namespace concierge
