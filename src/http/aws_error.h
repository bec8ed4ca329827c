// Errors of the AWS-compatible API as AWS names them: an exception type such
// as "InvalidParameterException" plus a message, answered as
//   HTTP 400 (500 for faults) {"__type": type, "Code": type, "Message": message}
// which is what boto3 and the AWS SDKs parse into ClientError codes.
#pragma once

#include <string>
#include <utility>

#include "core/status.h"

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

// Either a value or an AwsError (error()); the AWS counterpart of Result<T>.
template <typename T>
using AwsResult = ValueOrError<T, AwsError>;

}  // namespace concierge
