// Errors of the AWS-compatible API as AWS names them: an exception type such
// as "InvalidParameterException" plus a message, answered as
//   HTTP 400 (500 for faults) {"__type": type, "Code": type, "Message": message}
// which is what boto3 and the AWS SDKs parse into ClientError codes.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace concierge {

struct AwsError {
  std::string type;     // e.g. "InvalidSignatureException"
  std::string message;  // safe to show: never a secret, path or SQL

  // 500 for server faults (InternalServerError, ServiceUnavailableException),
  // else 400 as Rekognition answers every client error.
  int http_status() const {
    return type == "InternalServerError" || type == "ServiceUnavailableException" ? 500 : 400;
  }
};

// An AwsError with `type` and `message`.
inline AwsError MakeAwsError(std::string type, std::string message) {
  return AwsError{std::move(type), std::move(message)};
}

// Either a value or an AwsError; the AWS counterpart of Result<T>.
template <typename T>
class AwsResult {
 public:
  AwsResult(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  AwsResult(AwsError error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  // Require ok().
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  // Requires !ok().
  const AwsError& error() const { return std::get<AwsError>(v_); }

 private:
  std::variant<T, AwsError> v_;
};

}  // namespace concierge
