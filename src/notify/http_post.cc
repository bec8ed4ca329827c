#include "notify/http_post.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <mutex>
#include <random>

namespace concierge {

namespace {

size_t AppendBody(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// Picks Retry-After out of the header lines (only the delay-seconds form;
// Slack never sends the HTTP-date form).
size_t ReadHeader(char* data, size_t size, size_t count, void* out) {
  const std::string line(data, size * count);
  const std::string name = "retry-after:";
  if (line.size() > name.size()) {
    std::string head = line.substr(0, name.size());
    std::transform(head.begin(), head.end(), head.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (head == name) {
      int seconds = 0;
      bool digits = false;
      for (size_t i = name.size(); i < line.size(); ++i) {
        const char c = line[i];
        if (c >= '0' && c <= '9') {
          digits = true;
          seconds = std::min(seconds * 10 + (c - '0'), 86400);
        } else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
          digits = false;
          break;
        }
      }
      if (digits) static_cast<HttpReply*>(out)->retry_after_s = seconds;
    }
  }
  return size * count;
}

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

Result<HttpReply> HttpPost(const std::string& url, const std::vector<std::string>& headers,
                           const std::string& body, int timeout_ms) {
  InitCurlOnce();
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return Status::Internal("curl_easy_init failed");
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
  HttpReply reply;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM, safe in threads
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min(timeout_ms, 5000)));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, ReadHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply);
  const CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    // The URL may carry a pre-signed upload token, so name only the host part.
    const std::string where = url.substr(0, url.find('/', url.find("//") + 2));
    return Status::Unavailable("POST " + where + " failed: " +
                               (error[0] ? std::string(error) : curl_easy_strerror(rc)));
  }
  return reply;
}

std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields) {
  auto escape = [](const std::string& s) {
    std::string out;
    static const char* kHex = "0123456789ABCDEF";
    for (unsigned char c : s) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
        out += static_cast<char>(c);
      } else {
        out += '%';
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
    }
    return out;
  };
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out += '&';
    out += escape(k) + "=" + escape(v);
  }
  return out;
}

std::map<std::string, std::string> FormDecode(std::string_view body) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  auto decode = [&](std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '+') {
        out += ' ';
      } else if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
        out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
        i += 2;
      } else {
        out += s[i];
      }
    }
    return out;
  };
  std::map<std::string, std::string> fields;
  while (!body.empty()) {
    const size_t amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    const size_t eq = pair.find('=');
    fields.emplace(decode(pair.substr(0, eq)),
                   eq == std::string_view::npos ? "" : decode(pair.substr(eq + 1)));
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
  }
  return fields;
}

int64_t BackoffMs(int retry, int initial_ms, int max_ms) {
  const int64_t cap = std::max(1, max_ms);
  int64_t delay = std::max(1, initial_ms);
  for (int i = 0; i < retry && delay < cap; ++i) delay *= 2;
  delay = std::min(delay, cap);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const int64_t half = delay / 2;
  return half + static_cast<int64_t>(rng() % static_cast<uint64_t>(delay - half + 1));
}

bool CancellableSleep::SleepFor(int64_t ms) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(ms, 0)),
               [this] { return cancelled_; });
  return !cancelled_;
}

void CancellableSleep::Cancel() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
  }
  cv_.notify_all();
}

}  // namespace concierge
