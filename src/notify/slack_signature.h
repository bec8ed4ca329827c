// Slack request signing (v0): X-Slack-Signature = "v0=" + hex HMAC-SHA256 of
// "v0:<X-Slack-Request-Timestamp>:<raw body>" keyed with the app's signing
// secret. Verification for the interactive endpoint, signing for the fake.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

#include "core/status.h"

namespace concierge {

// Lower-case hex HMAC-SHA256 of `data` keyed with `key` (64 characters).
std::string HmacSha256Hex(std::string_view key, std::string_view data);

// Needs the signing secret, a Unix-seconds timestamp and the exact body bytes.
// Returns the X-Slack-Signature value ("v0=<64 hex>").
std::string SignSlackRequest(std::string_view signing_secret, int64_t timestamp_s,
                             std::string_view raw_body);

// Needs the two header values as received and the raw (undecoded) body.
// OK only when the timestamp is a plain decimal within max_age_s of now_s
// (either direction) and the signature matches, compared in constant time.
// Otherwise kPermissionDenied (forged, stale, future) or kInvalidArgument
// (missing/malformed headers, empty secret). Never logs the secret.
Status VerifySlackRequest(std::string_view signing_secret, std::string_view timestamp_header,
                          std::string_view signature_header, std::string_view raw_body,
                          int64_t now_s, int64_t max_age_s = 300);

// Remembers verified signatures for the freshness window so a captured request
// replayed inside that window is refused. Memory is bounded by max_entries;
// when that many fresh signatures are held, new ones are refused (fail closed)
// rather than forgetting one that could then be replayed. Thread-safe.
class ReplayGuard {
 public:
  // Needs window_s >= the verifier's max_age_s and max_entries >= 1.
  explicit ReplayGuard(int64_t window_s = 300, size_t max_entries = 100000);

  // Needs a signature that VerifySlackRequest accepted and its timestamp.
  // OK and remembered the first time; kPermissionDenied when seen before;
  // kUnavailable when the guard is full of fresh entries.
  Status CheckAndRemember(const std::string& signature, int64_t timestamp_s, int64_t now_s);

  size_t size() const;

 private:
  struct Seen {
    int64_t expires_s;
    std::string signature;
  };
  void ExpireLocked(int64_t now_s);

  const int64_t window_s_;
  const size_t max_entries_;
  mutable std::mutex mu_;
  std::deque<Seen> by_expiry_;  // arrival order
  std::unordered_set<std::string> seen_;
};

}  // namespace concierge
