// One HTTP POST over libcurl for the notifiers (Slack Web API, upload URLs,
// webhooks), plus the retry timing they share. Internal to src/notify.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace concierge {

struct HttpReply {
  long status = 0;            // HTTP status code
  std::string body;
  int retry_after_s = -1;     // Retry-After header in seconds, -1 when absent
};

// Needs an http(s) URL and "Name: value" headers. Returns the reply for any
// HTTP status; kUnavailable when no reply arrived (refused, timeout, DNS).
Result<HttpReply> HttpPost(const std::string& url, const std::vector<std::string>& headers,
                           const std::string& body, int timeout_ms);

// "a=b&c=d" with both sides percent-encoded.
std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields);
// Decodes an application/x-www-form-urlencoded body ('+' is a space); the
// first value wins for a repeated name, and a bad %-escape is kept as is.
std::map<std::string, std::string> FormDecode(std::string_view body);

// Exponential backoff: initial_ms * 2^retry capped at max_ms, with the upper
// half jittered so many clients do not retry in lockstep. retry is 0-based.
int64_t BackoffMs(int retry, int initial_ms, int max_ms);

// A sleep that Cancel() cuts short, so owners can stop promptly mid-backoff.
class CancellableSleep {
 public:
  // Waits up to ms; false when cancelled (before or during the wait).
  bool SleepFor(int64_t ms);
  // Wakes current sleepers; later sleeps return false at once. Idempotent.
  void Cancel();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool cancelled_ = false;
};

}  // namespace concierge
