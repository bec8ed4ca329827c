#include "notify/slack_signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace concierge {

std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[mac[i] >> 4];
    out += kHex[mac[i] & 15];
  }
  return out;
}

std::string SignSlackRequest(std::string_view signing_secret, int64_t timestamp_s,
                             std::string_view raw_body) {
  std::string base = "v0:" + std::to_string(timestamp_s) + ":";
  base.append(raw_body);
  return "v0=" + HmacSha256Hex(signing_secret, base);
}

Status VerifySlackRequest(std::string_view signing_secret, std::string_view timestamp_header,
                          std::string_view signature_header, std::string_view raw_body,
                          int64_t now_s, int64_t max_age_s) {
  if (signing_secret.empty()) return Status::InvalidArgument("slack signing secret is not set");
  if (timestamp_header.empty() || timestamp_header.size() > 12)
    return Status::InvalidArgument("missing or malformed X-Slack-Request-Timestamp");
  int64_t ts = 0;
  const char* end = timestamp_header.data() + timestamp_header.size();
  auto [ptr, ec] = std::from_chars(timestamp_header.data(), end, ts);
  if (ec != std::errc() || ptr != end || ts <= 0)
    return Status::InvalidArgument("missing or malformed X-Slack-Request-Timestamp");
  // Both directions: a far-future timestamp would otherwise stay "fresh" forever.
  if (ts < now_s - max_age_s || ts > now_s + max_age_s)
    return Status::PermissionDenied("slack request timestamp is outside the allowed window");
  if (signature_header.size() != 3 + 64 || signature_header.substr(0, 3) != "v0=")
    return Status::InvalidArgument("missing or malformed X-Slack-Signature");
  const std::string expected = SignSlackRequest(signing_secret, ts, raw_body);
  std::string given(signature_header);
  std::transform(given.begin(), given.end(), given.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (CRYPTO_memcmp(expected.data(), given.data(), expected.size()) != 0)
    return Status::PermissionDenied("slack request signature does not match");
  return Status::Ok();
}

ReplayGuard::ReplayGuard(int64_t window_s, size_t max_entries)
    : window_s_(window_s), max_entries_(std::max<size_t>(1, max_entries)) {}

void ReplayGuard::ExpireLocked(int64_t now_s) {
  // Entries arrive roughly in timestamp order; an out-of-order one only stays
  // a little longer than needed, which is harmless (memory stays bounded).
  while (!by_expiry_.empty() && by_expiry_.front().expires_s < now_s) {
    seen_.erase(by_expiry_.front().signature);
    by_expiry_.pop_front();
  }
}

Status ReplayGuard::CheckAndRemember(const std::string& signature, int64_t timestamp_s,
                                     int64_t now_s) {
  std::lock_guard<std::mutex> lock(mu_);
  ExpireLocked(now_s);
  if (seen_.count(signature)) return Status::PermissionDenied("slack request was replayed");
  if (seen_.size() >= max_entries_)
    return Status::Unavailable("replay guard is full; refusing rather than forgetting");
  // Keep it until the verifier would reject its timestamp anyway.
  by_expiry_.push_back({timestamp_s + window_s_, signature});
  seen_.insert(signature);
  return Status::Ok();
}

size_t ReplayGuard::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return seen_.size();
}

}  // namespace concierge
