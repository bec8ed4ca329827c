#include "http/sigv4.h"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <optional>

#include "core/hash.h"
#include "store/s3_object_store.h"

namespace concierge {

namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr size_t kMaxSignedHeaders = 64;
constexpr size_t kMaxAuthorizationBytes = 4096;

AwsError Incomplete(std::string message) {
  return MakeAwsError("IncompleteSignatureException", std::move(message));
}
AwsError Invalid(std::string message) {
  return MakeAwsError("InvalidSignatureException", std::move(message));
}
AwsError Mismatch() {
  return Invalid(
      "The request signature we calculated does not match the signature you provided. Check your "
      "AWS Secret Access Key and signing method. Consult the service documentation for details.");
}
AwsError Unrecognized() {
  return MakeAwsError("UnrecognizedClientException",
                      "The security token included in the request is invalid.");
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool AllDigits(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
}

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
  });
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t end = s.find(sep, start);
    parts.push_back(s.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

// The value of header `lower_name` with repeated headers joined by ',' (as
// the SigV4 canonical form wants); nullopt when absent.
std::optional<std::string> HeaderValue(const SignedHttpRequest& r, std::string_view lower_name) {
  std::optional<std::string> value;
  for (const auto& [name, v] : r.headers) {
    if (Lower(name) != lower_name) continue;
    value = value ? *value + "," + std::string(Trim(v)) : std::string(Trim(v));
  }
  return value;
}

// AWS's wording for a request outside the allowed clock skew.
AwsError Expired(int64_t signed_ms, int64_t now_ms, int64_t skew_ms) {
  const std::string minutes = std::to_string(skew_ms / 60000) + " min.";
  if (signed_ms < now_ms)
    return Invalid("Signature expired: " + FormatAmzDate(signed_ms) + " is now earlier than " +
                   FormatAmzDate(now_ms - skew_ms) + " (" + FormatAmzDate(now_ms) + " - " +
                   minutes + ")");
  return Invalid("Signature not yet current: " + FormatAmzDate(signed_ms) +
                 " is still later than " + FormatAmzDate(now_ms + skew_ms) + " (" +
                 FormatAmzDate(now_ms) + " + " + minutes + ")");
}

}  // namespace

std::string FormatAmzDate(int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &utc);
  return buf;
}

int64_t ParseAmzDate(std::string_view text) {
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z' || !AllDigits(text.substr(0, 8)) ||
      !AllDigits(text.substr(9, 6)))
    return -1;
  auto num = [&](size_t at, size_t n) { return std::stoi(std::string(text.substr(at, n))); };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(4, 2) - 1;
  tm.tm_mday = num(6, 2);
  tm.tm_hour = num(9, 2);
  tm.tm_min = num(11, 2);
  tm.tm_sec = num(13, 2);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60)
    return -1;
  const std::tm given = tm;
  const std::time_t t = timegm(&tm);
  // timegm normalises 31 February into March: such a date is malformed.
  if (tm.tm_mday != given.tm_mday || tm.tm_mon != given.tm_mon) return -1;
  return static_cast<int64_t>(t) * 1000;
}

AwsResult<SigV4Authorization> ParseSigV4Authorization(std::string_view header) {
  if (header.size() > kMaxAuthorizationBytes)
    return Incomplete("Authorization header is longer than " +
                      std::to_string(kMaxAuthorizationBytes) + " bytes.");
  header = Trim(header);
  const size_t space = header.find(' ');
  const std::string_view algorithm = header.substr(0, space);
  if (algorithm != kAlgorithm)
    return Incomplete("Unsupported AWS 'algorithm': '" + std::string(algorithm.substr(0, 64)) +
                      "'; only AWS4-HMAC-SHA256 is accepted.");
  const std::string_view rest = space == std::string_view::npos ? "" : header.substr(space + 1);
  std::optional<std::string_view> credential, signed_headers, signature;
  for (std::string_view part : Split(rest, ',')) {
    part = Trim(part);
    const size_t eq = part.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view name = part.substr(0, eq), value = part.substr(eq + 1);
    if (name == "Credential") credential = value;
    else if (name == "SignedHeaders") signed_headers = value;
    else if (name == "Signature") signature = value;
  }
  std::string missing;
  if (!credential) missing += "Authorization header requires 'Credential' parameter. ";
  if (!signature) missing += "Authorization header requires 'Signature' parameter. ";
  if (!signed_headers) missing += "Authorization header requires 'SignedHeaders' parameter. ";
  if (!missing.empty()) return Incomplete(std::string(Trim(missing)));

  const std::vector<std::string_view> scope = Split(*credential, '/');
  if (scope.size() != 5 || scope[0].empty() || scope[2].empty() || scope[3].empty())
    return Incomplete("Credential must have the form <access key id>/<YYYYMMDD>/<region>/"
                      "<service>/aws4_request.");
  if (scope[1].size() != 8 || !AllDigits(scope[1]))
    return Incomplete("Credential date '" + std::string(scope[1].substr(0, 16)) +
                      "' is not YYYYMMDD.");
  if (signature->size() != 64 || !IsLowerHex(*signature))
    return Incomplete("Signature must be 64 lower-case hex digits.");
  SigV4Authorization auth;
  auth.access_key_id = std::string(scope[0]);
  auth.date = std::string(scope[1]);
  auth.region = std::string(scope[2]);
  auth.service = std::string(scope[3]);
  auth.terminator = std::string(scope[4]);
  auth.signature = std::string(*signature);
  for (std::string_view name : Split(*signed_headers, ';')) {
    if (name.empty() || name != Lower(name))
      return Incomplete("SignedHeaders must be lower-case names separated by ';'.");
    auth.signed_headers.emplace_back(name);
  }
  if (auth.signed_headers.size() > kMaxSignedHeaders)
    return Incomplete("SignedHeaders lists more than " + std::to_string(kMaxSignedHeaders) +
                      " headers.");
  return auth;
}

AwsResult<SigV4Caller> VerifySigV4(const SignedHttpRequest& request, const SigV4Policy& policy,
                                   int64_t now_ms, const SecretLookup& secret_for) {
  for (const auto& [name, value] : request.query) {
    if (name == "X-Amz-Signature" || name == "X-Amz-Credential")
      return Incomplete("Presigned URLs are not accepted here; sign the Authorization header.");
  }
  const std::optional<std::string> header = HeaderValue(request, "authorization");
  if (!header || header->empty())
    return MakeAwsError("MissingAuthenticationTokenException", "Missing Authentication Token");
  AwsResult<SigV4Authorization> parsed = ParseSigV4Authorization(*header);
  if (!parsed.ok()) return parsed.error();
  const SigV4Authorization& auth = *parsed;

  const std::optional<std::string> amz_date = HeaderValue(request, "x-amz-date");
  if (!amz_date)
    return Incomplete(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  const int64_t signed_ms = ParseAmzDate(*amz_date);
  if (signed_ms < 0)
    return Incomplete("X-Amz-Date must be YYYYMMDD'T'HHMMSS'Z' in UTC, e.g. 20260523T101500Z.");

  if (auth.terminator != "aws4_request")
    return Invalid("Credential should be scoped with a valid terminator: 'aws4_request', not '" +
                   auth.terminator.substr(0, 32) + "'.");
  if (auth.service != policy.service)
    return Invalid("Credential should be scoped to correct service: '" + policy.service + "'.");
  if (auth.date != amz_date->substr(0, 8))
    return Invalid("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                   "date from HTTP: '" + auth.date + "' != '" + amz_date->substr(0, 8) +
                   "', from '" + *amz_date + "'.");
  std::vector<std::string> required = {"host", "x-amz-date"};
  required.insert(required.end(), policy.required_signed_headers.begin(),
                  policy.required_signed_headers.end());
  for (const std::string& name : required) {
    if (std::find(auth.signed_headers.begin(), auth.signed_headers.end(), name) ==
        auth.signed_headers.end())
      return Invalid("'" + name + "' must be a 'SignedHeader' in the AWS Authorization.");
  }
  std::vector<std::pair<std::string, std::string>> signed_values;
  for (const std::string& name : auth.signed_headers) {
    std::optional<std::string> value = HeaderValue(request, name);
    if (!value) return Invalid("The signed header '" + name + "' is not in the request.");
    signed_values.emplace_back(name, std::move(*value));
  }
  if (std::abs(now_ms - signed_ms) > policy.max_skew_ms)
    return Expired(signed_ms, now_ms, policy.max_skew_ms);

  if (HeaderValue(request, "x-amz-security-token")) return Unrecognized();
  AwsResult<std::string> secret = secret_for(auth.access_key_id);
  if (!secret.ok()) return secret.error();

  const std::string body_hash = Sha256Hex(request.body);
  if (const auto claimed = HeaderValue(request, "x-amz-content-sha256");
      claimed && *claimed != body_hash)
    return Invalid(*claimed == "UNSIGNED-PAYLOAD"
                       ? "Unsigned payloads are not accepted; sign the body."
                       : "The provided 'x-amz-content-sha256' header does not match what was "
                         "computed.");

  SigV4Request canonical;
  canonical.method = request.method;
  canonical.path = UriEncode(request.path.empty() ? "/" : request.path, /*encode_slash=*/false);
  canonical.query = request.query;
  canonical.headers = std::move(signed_values);
  canonical.payload_sha256 = body_hash;
  canonical.amz_date = *amz_date;
  canonical.region = auth.region;
  canonical.service = auth.service;
  canonical.access_key = auth.access_key_id;
  canonical.secret_key = std::move(*secret);
  const SigV4Signature expected = SignV4(canonical);
  sodium_memzero(canonical.secret_key.data(), canonical.secret_key.size());
  const std::string_view computed =
      std::string_view(expected.authorization).substr(expected.authorization.size() - 64);
  if (sodium_memcmp(computed.data(), auth.signature.data(), 64) != 0) return Mismatch();
  return SigV4Caller{auth.access_key_id, auth.region};
}

}  // namespace concierge
