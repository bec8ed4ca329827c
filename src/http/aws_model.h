// Reading AWS JSON 1.1 requests: the body is parsed with its size and nesting
// bounded, then checked member by member against the service's botocore model
// (types, required members, lengths, ranges, enums and patterns), the way AWS
// checks before an operation runs. Unknown members are ignored, as AWS does.
// Pure functions, so a fuzz target can call them.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "http/aws_error.h"

namespace concierge {

// Deeper JSON than this is refused before it is parsed.
inline constexpr int kMaxAwsJsonDepth = 32;

// Needs nothing. Parses `body` as one JSON object (an empty body is {}).
// SerializationException for more than `max_bytes`, nesting deeper than
// kMaxAwsJsonDepth, malformed JSON or a non-object.
AwsResult<nlohmann::json> ParseAwsJsonBody(std::string_view body, size_t max_bytes);

// One service's operations and shapes, from a botocore service-2.json
// (or the trimmed copy in rekognition_model.h).
class AwsServiceModel {
 public:
  // Needs a botocore model document; kInvalidArgument when it is not one.
  static Result<std::unique_ptr<AwsServiceModel>> Parse(std::string_view model_json);
  // The Rekognition model, parsed once; thread-safe.
  static const AwsServiceModel& Rekognition();

  // metadata.targetPrefix, e.g. "RekognitionService".
  const std::string& target_prefix() const { return target_prefix_; }
  bool HasOperation(const std::string& name) const;
  // Operation names, sorted.
  std::vector<std::string> operations() const;
  // The named shape ({"type": ..., ...}), or null JSON when unknown.
  const nlohmann::json& shape(const std::string& name) const;
  // The input / output shape name of an operation ("" when unknown).
  std::string input_shape(const std::string& operation) const;
  std::string output_shape(const std::string& operation) const;

  // Needs a known operation. Checks `input` against its input shape. Nullopt
  // when valid, else ValidationException listing up to 10 violations in AWS's
  // wording ("Value 'x' at 'collectionId' failed to satisfy constraint: Member
  // must satisfy regular expression pattern: ..."). Blob members must be
  // strings; their base64 and size are checked where they are decoded.
  std::optional<AwsError> ValidateInput(const std::string& operation,
                                        const nlohmann::json& input) const;

 private:
  AwsServiceModel() = default;
  void Check(const nlohmann::json& value, const std::string& shape_name, const std::string& path,
             std::vector<std::string>* errors) const;

  nlohmann::json doc_;
  std::string target_prefix_;
  // Compiled patterns by shape name; patterns std::regex cannot express
  // (Unicode classes such as \p{L}) are left out.
  std::map<std::string, std::regex> patterns_;
};

}  // namespace concierge
