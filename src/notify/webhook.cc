#include "notify/webhook.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <charconv>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "notify/slack_signature.h"

namespace concierge {

WebhookOptions WebhookOptionsFromConfig(const NotifyConfig& config) {
  WebhookOptions o;
  o.url = config.webhook_url;
  o.secret = config.webhook_secret;
  o.timeout_ms = config.request_timeout_ms;
  o.call_attempts = config.call_attempts;
  o.backoff_initial_ms = config.backoff_initial_ms;
  o.backoff_max_ms = config.backoff_max_ms;
  return o;
}

std::string SignWebhook(std::string_view secret, int64_t timestamp_s, std::string_view body) {
  std::string base = std::to_string(timestamp_s) + ".";
  base.append(body);
  return "sha256=" + HmacSha256Hex(secret, base);
}

Status VerifyWebhook(std::string_view secret, std::string_view timestamp_header,
                     std::string_view signature_header, std::string_view body, int64_t now_s,
                     int64_t max_age_s) {
  if (secret.empty()) return Status::InvalidArgument("webhook secret is not set");
  int64_t ts = 0;
  const char* end = timestamp_header.data() + timestamp_header.size();
  auto [ptr, ec] = std::from_chars(timestamp_header.data(), end, ts);
  if (timestamp_header.empty() || ec != std::errc() || ptr != end)
    return Status::InvalidArgument("missing or malformed X-Concierge-Timestamp");
  if (ts < now_s - max_age_s || ts > now_s + max_age_s)
    return Status::PermissionDenied("webhook timestamp is outside the allowed window");
  const std::string expected = SignWebhook(secret, ts, body);
  if (signature_header.size() != expected.size() ||
      CRYPTO_memcmp(expected.data(), signature_header.data(), expected.size()) != 0)
    return Status::PermissionDenied("webhook signature does not match");
  return Status::Ok();
}

WebhookCommunicator::WebhookCommunicator(WebhookOptions options) : options_(std::move(options)) {}

Result<std::string> WebhookCommunicator::Publish(const Notification& n) {
  if (options_.url.empty() || options_.secret.empty())
    return Status::FailedPrecondition("webhook needs a url and a secret");
  if (n.idempotency_key.find_first_of("\r\n") != std::string::npos)
    return Status::InvalidArgument("webhook: idempotency key must not contain line breaks");
  const std::string body = nlohmann::json{{"kind", n.kind},
                                          {"channel", n.channel},
                                          {"idempotency_key", n.idempotency_key},
                                          {"payload", n.payload},
                                          {"sent_ms", NowMs()}}
                               .dump();
  Status last = Status::Unavailable("webhook: no attempt made");
  int retry_after_s = -1;
  for (int attempt = 0; attempt < std::max(1, options_.call_attempts); ++attempt) {
    if (attempt > 0) {
      const int64_t ms = retry_after_s >= 0
                             ? int64_t{retry_after_s} * 1000
                             : BackoffMs(attempt - 1, options_.backoff_initial_ms,
                                         options_.backoff_max_ms);
      spdlog::info("{}; retrying in {} ms", last.message(), ms);
      if (!sleep_.SleepFor(ms)) return Status::Unavailable("webhook: cancelled while retrying");
    }
    retry_after_s = -1;
    // Signed per attempt so a retry after a long backoff is still fresh.
    const int64_t now_s = NowMs() / 1000;
    const std::vector<std::string> headers = {
        "Content-Type: application/json", "X-Concierge-Timestamp: " + std::to_string(now_s),
        "X-Concierge-Signature: " + SignWebhook(options_.secret, now_s, body),
        "X-Concierge-Idempotency-Key: " + n.idempotency_key};
    Result<HttpReply> reply = HttpPost(options_.url, headers, body, options_.timeout_ms);
    if (!reply.ok()) {
      last = Status::Unavailable("webhook: " + reply.status().message());
      continue;
    }
    const std::string code = "webhook: HTTP " + std::to_string(reply->status);
    if (reply->status >= 200 && reply->status < 300) return std::to_string(reply->status);
    if (reply->status == 429 || reply->status >= 500) {
      retry_after_s = reply->status == 429 ? std::min(reply->retry_after_s, 300) : -1;
      last = Status::Unavailable(code);
      continue;
    }
    return Status::InvalidArgument(code);
  }
  return last;
}

}  // namespace concierge
