// Checking AWS Signature Version 4 on requests that AWS SDKs (boto3, the AWS
// CLI, ...) send to the Rekognition-compatible API. Pure functions: the
// request's parts and the clock go in, the caller or an AWS-named error comes
// out; the secret comes from a lookup the caller supplies. The signature itself
// is computed by SignV4 (store/s3_object_store.h), the same code that signs
// Concierge's own S3 requests.
//
// What is checked, in order (each failure is the error AWS gives for it):
//   Authorization header present        MissingAuthenticationTokenException
//   "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." complete,
//   X-Amz-Date present and well formed  IncompleteSignatureException
//   credential scope <date>/<region>/<service>/aws4_request with the right
//   service and X-Amz-Date's day; host, x-amz-date and the policy's other
//   headers signed and present          InvalidSignatureException
//   X-Amz-Date within max_skew of now   InvalidSignatureException ("Signature expired")
//   no X-Amz-Security-Token (no session credentials are issued), a known,
//   unrevoked access key                UnrecognizedClientException
//   X-Amz-Content-SHA256, when sent, is the body's hash (UNSIGNED-PAYLOAD refused)
//   the signature over method, path, query, signed headers and body
//                                       InvalidSignatureException
// Presigned URLs (X-Amz-Signature in the query) are not accepted.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/aws_error.h"

namespace concierge {

// The parts of an HTTP request that SigV4 covers.
struct SignedHttpRequest {
  std::string method;                                        // "POST"
  std::string path;                                          // as sent (percent-encoded), no query
  std::vector<std::pair<std::string, std::string>> query;    // decoded names and values
  std::vector<std::pair<std::string, std::string>> headers;  // as received; names in any case
  std::string_view body;
};

// The parsed Authorization header.
struct SigV4Authorization {
  std::string access_key_id;
  std::string date;     // YYYYMMDD from the credential scope
  std::string region;
  std::string service;
  std::string terminator;                   // must be "aws4_request"
  std::vector<std::string> signed_headers;  // lower-case, as listed
  std::string signature;                    // lower-case hex, 64 characters
};

// Parses "AWS4-HMAC-SHA256 Credential=<id>/<date>/<region>/<service>/<term>,
// SignedHeaders=<a;b;c>, Signature=<hex>" (any order, spaces optional).
// IncompleteSignatureException naming what is missing or malformed.
AwsResult<SigV4Authorization> ParseSigV4Authorization(std::string_view header);

// What a verifier insists on.
struct SigV4Policy {
  std::string service = "rekognition";
  int64_t max_skew_ms = 5 * 60 * 1000;
  // Headers that must be signed besides host and x-amz-date (lower-case).
  std::vector<std::string> required_signed_headers;
};

// The secret access key of an access key id, or UnrecognizedClientException
// (unknown or revoked) or InternalServerError (storage trouble).
using SecretLookup = std::function<AwsResult<std::string>(const std::string& access_key_id)>;

// Who signed a verified request.
struct SigV4Caller {
  std::string access_key_id;
  std::string region;  // from the credential scope: the client's region_name
};

// Needs a lookup that is safe to call from this thread. Verifies `request`
// against `policy` at wall-clock `now_ms` as listed above; the lookup runs
// only for a well-formed, timely request.
AwsResult<SigV4Caller> VerifySigV4(const SignedHttpRequest& request, const SigV4Policy& policy,
                                   int64_t now_ms, const SecretLookup& secret_for);

// Parses an X-Amz-Date value (YYYYMMDDTHHMMSSZ, UTC) into ms since the epoch;
// -1 when it is malformed.
int64_t ParseAmzDate(std::string_view text);
// The X-Amz-Date value of `ms` since the epoch (seconds truncated).
std::string FormatAmzDate(int64_t ms);

}  // namespace concierge
