// The generic webhook Communicator: POSTs each notification as JSON, signed
// so the receiver can check it came from us and is fresh:
//   X-Concierge-Timestamp: <unix seconds>
//   X-Concierge-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
//   X-Concierge-Idempotency-Key: <key>   (receivers dedupe on it)
// Body: {"kind", "channel", "idempotency_key", "payload", "sent_ms"}.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/config.h"
#include "notify/communicator.h"
#include "notify/http_post.h"

namespace concierge {

struct WebhookOptions {
  std::string url;
  std::string secret;           // HMAC key; required
  int timeout_ms = 10000;
  int call_attempts = 4;        // tries per notification, the first included
  int backoff_initial_ms = 500;
  int backoff_max_ms = 60000;
};

// Options from the notify section of the config.
WebhookOptions WebhookOptionsFromConfig(const NotifyConfig& config);

// The X-Concierge-Signature value for `body` sent at `timestamp_s`.
std::string SignWebhook(std::string_view secret, int64_t timestamp_s, std::string_view body);

// For receivers: OK when the timestamp is within max_age_s of now_s and the
// signature matches (constant-time); kPermissionDenied or kInvalidArgument otherwise.
Status VerifyWebhook(std::string_view secret, std::string_view timestamp_header,
                     std::string_view signature_header, std::string_view body, int64_t now_s,
                     int64_t max_age_s = 300);

class WebhookCommunicator : public Communicator {
 public:
  explicit WebhookCommunicator(WebhookOptions options);

  std::string name() const override { return "webhook"; }
  // Needs a URL and a secret. 2xx: OK with the HTTP status as receipt.
  // 429/5xx/network: retried with backoff (Retry-After honoured), then
  // kUnavailable. Other statuses: kInvalidArgument (permanent).
  Result<std::string> Publish(const Notification& notification) override;
  void Stop() override { sleep_.Cancel(); }

 private:
  WebhookOptions options_;
  CancellableSleep sleep_;
};

}  // namespace concierge
