#include "http/aws_model.h"

#include <cctype>
#include <cmath>

#include <spdlog/spdlog.h>

#include "core/json_limits.h"
#include "http/rekognition_model.h"

namespace concierge {

namespace {

using json = nlohmann::json;

constexpr size_t kMaxReportedErrors = 10;
// std::regex recurses per character; longer strings are refused unmatched.
constexpr size_t kMaxPatternInput = 2048;
constexpr size_t kMaxEchoedChars = 64;

AwsError Serialization(std::string message) {
  return MakeAwsError("SerializationException", std::move(message));
}

// AWS names members in errors in lowerCamelCase: "CollectionId" -> "collectionId".
std::string MemberPath(const std::string& parent, const std::string& member) {
  std::string name = member;
  if (!name.empty()) name[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(name[0])));
  return parent.empty() ? name : parent + "." + name;
}

// The value as AWS echoes it in a violation: strings quoted and shortened.
std::string Echo(const json& value) {
  if (value.is_null()) return "null";
  std::string text = value.is_string() ? value.get<std::string>()
                                       : value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > kMaxEchoedChars) text = text.substr(0, kMaxEchoedChars) + "...";
  for (char& c : text)
    if (static_cast<unsigned char>(c) < 0x20 || c == '\'') c = '?';
  return "'" + text + "'";
}

std::string Violation(const json& value, const std::string& path, const std::string& constraint) {
  return "Value " + Echo(value) + " at '" + path + "' failed to satisfy constraint: Member must " +
         constraint;
}

std::string Number(const json& bound) {
  if (bound.is_number_integer()) return std::to_string(bound.get<int64_t>());
  const double d = bound.get<double>();
  return d == std::floor(d) ? std::to_string(static_cast<int64_t>(d)) : std::to_string(d);
}

bool IsIntegral(const json& v) {
  if (v.is_number_integer()) return true;
  return v.is_number_float() && std::isfinite(v.get<double>()) &&
         v.get<double>() == std::floor(v.get<double>());
}

}  // namespace

AwsResult<json> ParseAwsJsonBody(std::string_view body, size_t max_bytes) {
  if (body.size() > max_bytes)
    return Serialization("Request body is " + std::to_string(body.size()) +
                         " bytes; the limit is " + std::to_string(max_bytes));
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return json::object();
  auto parsed = ParseBoundedJson(body, {max_bytes, kMaxAwsJsonDepth});
  if (!parsed.ok())
    return Serialization("Malformed request body: " + parsed.status().message());
  json doc = std::move(*parsed);
  if (!doc.is_object())
    return Serialization("Start of structure or map found where not expected: the request "
                         "body must be a JSON object");
  return doc;
}

Result<std::unique_ptr<AwsServiceModel>> AwsServiceModel::Parse(std::string_view model_json) {
  std::unique_ptr<AwsServiceModel> model(new AwsServiceModel());
  model->doc_ = json::parse(model_json, nullptr, /*allow_exceptions=*/false);
  const json& doc = model->doc_;
  if (!doc.is_object() || !doc.contains("operations") || !doc.contains("shapes") ||
      !doc.contains("metadata") || !doc["operations"].is_object() || !doc["shapes"].is_object())
    return Status::InvalidArgument("not a botocore service model");
  model->target_prefix_ = doc["metadata"].value("targetPrefix", "");
  for (const auto& [name, shape] : doc["shapes"].items()) {
    if (!shape.is_object() || !shape.contains("pattern") || !shape["pattern"].is_string()) continue;
    const std::string pattern = shape["pattern"].get<std::string>();
    if (pattern.find("\\p{") != std::string::npos) continue;  // Java Unicode classes
    try {
      model->patterns_.emplace(name, std::regex(pattern, std::regex::ECMAScript));
    } catch (const std::regex_error&) {
      spdlog::warn("aws: pattern of shape {} is not checked: {}", name, pattern);
    }
  }
  return model;
}

const AwsServiceModel& AwsServiceModel::Rekognition() {
  static const std::unique_ptr<AwsServiceModel> model = [] {
    auto parsed = Parse(RekognitionModelJson());
    // The embedded model is generated and fixed at build time.
    if (!parsed.ok()) std::abort();
    return std::move(*parsed);
  }();
  return *model;
}

bool AwsServiceModel::HasOperation(const std::string& name) const {
  return doc_["operations"].contains(name);
}

std::vector<std::string> AwsServiceModel::operations() const {
  std::vector<std::string> names;
  for (const auto& [name, op] : doc_["operations"].items()) names.push_back(name);
  return names;
}

const json& AwsServiceModel::shape(const std::string& name) const {
  static const json kNull;
  const json& shapes = doc_["shapes"];
  const auto it = shapes.find(name);
  return it == shapes.end() ? kNull : *it;
}

std::string AwsServiceModel::input_shape(const std::string& operation) const {
  return HasOperation(operation) ? doc_["operations"][operation].value("input", "") : "";
}

std::string AwsServiceModel::output_shape(const std::string& operation) const {
  return HasOperation(operation) ? doc_["operations"][operation].value("output", "") : "";
}

std::optional<AwsError> AwsServiceModel::ValidateInput(const std::string& operation,
                                                       const json& input) const {
  std::vector<std::string> errors;
  Check(input, input_shape(operation), "", &errors);
  if (errors.empty()) return std::nullopt;
  std::string message = std::to_string(errors.size()) + " validation error" +
                        (errors.size() == 1 ? "" : "s") + " detected: ";
  for (size_t i = 0; i < errors.size() && i < kMaxReportedErrors; ++i)
    message += (i ? "; " : "") + errors[i];
  return MakeAwsError("ValidationException", message);
}

void AwsServiceModel::Check(const json& value, const std::string& shape_name,
                            const std::string& path, std::vector<std::string>* errors) const {
  const json& s = shape(shape_name);
  if (!s.is_object()) return;
  const std::string type = s.value("type", "");
  auto fail = [&](const std::string& constraint) {
    errors->push_back(Violation(value, path.empty() ? "input" : path, constraint));
  };
  auto check_length = [&](size_t length) {
    if (s.contains("min") && static_cast<double>(length) < s["min"].get<double>())
      fail("have length greater than or equal to " + Number(s["min"]));
    if (s.contains("max") && static_cast<double>(length) > s["max"].get<double>())
      fail("have length less than or equal to " + Number(s["max"]));
  };

  if (type == "structure") {
    if (!value.is_object()) return fail("be a structure (a JSON object)");
    for (const auto& required : s.value("required", json::array())) {
      const std::string member = required.get<std::string>();
      if (!value.contains(member) || value[member].is_null())
        errors->push_back(Violation(nullptr, MemberPath(path, member), "not be null"));
    }
    for (const auto& [member, ref] : s["members"].items()) {
      const auto it = value.find(member);
      if (it == value.end() || it->is_null()) continue;
      Check(*it, ref["shape"].get<std::string>(), MemberPath(path, member), errors);
    }
  } else if (type == "list") {
    if (!value.is_array()) return fail("be a list (a JSON array)");
    check_length(value.size());
    const std::string member = s["member"]["shape"].get<std::string>();
    for (size_t i = 0; i < value.size(); ++i)
      Check(value[i], member, path + "." + std::to_string(i + 1) + ".member", errors);
  } else if (type == "map") {
    if (!value.is_object()) return fail("be a map (a JSON object)");
    check_length(value.size());
    const std::string key = s["key"]["shape"].get<std::string>();
    const std::string val = s["value"]["shape"].get<std::string>();
    for (const auto& [k, v] : value.items()) {
      Check(json(k), key, path + ".key", errors);
      Check(v, val, path + ".value", errors);
    }
  } else if (type == "string") {
    if (!value.is_string()) return fail("be a string");
    const std::string& text = value.get_ref<const std::string&>();
    check_length(text.size());
    if (s.contains("enum")) {
      bool known = false;
      std::string names;
      for (const auto& e : s["enum"]) {
        known = known || e.get<std::string>() == text;
        names += (names.empty() ? "" : ", ") + e.get<std::string>();
      }
      if (!known) fail("satisfy enum value set: [" + names + "]");
    }
    const auto pattern = patterns_.find(shape_name);
    if (pattern != patterns_.end() &&
        (text.size() > kMaxPatternInput || !std::regex_match(text, pattern->second)))
      fail("satisfy regular expression pattern: " + s["pattern"].get<std::string>());
  } else if (type == "blob") {
    if (!value.is_string()) fail("be a base64-encoded string");
  } else if (type == "boolean") {
    if (!value.is_boolean()) fail("be a boolean");
  } else if (type == "integer" || type == "long" || type == "float" || type == "double") {
    const bool integral = type == "integer" || type == "long";
    if (!value.is_number() || (integral && !IsIntegral(value)))
      return fail(integral ? "be an integer" : "be a number");
    const double v = value.get<double>();
    if (s.contains("min") && v < s["min"].get<double>())
      fail("have value greater than or equal to " + Number(s["min"]));
    if (s.contains("max") && v > s["max"].get<double>())
      fail("have value less than or equal to " + Number(s["max"]));
  } else if (type == "timestamp") {
    if (!value.is_number()) fail("be a timestamp (seconds since the epoch)");
  }
}

}  // namespace concierge
