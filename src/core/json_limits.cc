#include "core/json_limits.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace concierge {

int JsonNestingDepth(std::string_view text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') deepest = std::max(deepest, ++depth);
    else if (c == '}' || c == ']') --depth;
    if (deepest > limit) break;
  }
  return deepest;
}

Result<nlohmann::json> ParseBoundedJson(std::string_view text, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes)
    return Status::TooLarge("JSON is " + std::to_string(text.size()) + " bytes; the limit is " +
                            std::to_string(limits.max_bytes));
  if (JsonNestingDepth(text, limits.max_depth) > limits.max_depth)
    return Status::InvalidArgument("JSON is nested deeper than " +
                                   std::to_string(limits.max_depth) + " levels");
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::InvalidArgument("not valid JSON");
  return doc;
}

Result<nlohmann::json> ReadBoundedJsonFile(const std::string& path, const JsonLimits& limits) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return Status::IoError("cannot read " + path + ": " + ec.message());
  if (size > limits.max_bytes)
    return Status::TooLarge(path + " is " + std::to_string(size) + " bytes; the limit is " +
                            std::to_string(limits.max_bytes));
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot read " + path);
  const std::string text(std::istreambuf_iterator<char>(in), {});
  auto doc = ParseBoundedJson(text, limits);
  if (doc.ok()) return doc;
  const std::string why = path + ": " + doc.status().message();
  return doc.status().code() == Status::Code::kTooLarge ? Status::TooLarge(why)
                                                        : Status::InvalidArgument(why);
}

}  // namespace concierge
