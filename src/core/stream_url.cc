#include "core/stream_url.h"

#include <algorithm>
#include <cctype>
#include <utility>

namespace concierge {

namespace {

constexpr const char* kSchemes[] = {"rtsp://", "rtsps://", "http://", "https://"};
constexpr char kMasked[] = "***";

// Where the password of `url`'s user:password@ lies, as [begin, end); npos when there is none.
std::pair<size_t, size_t> PasswordSpan(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return {std::string::npos, std::string::npos};
  const size_t authority = scheme + 3;
  const size_t authority_end = std::min(url.find_first_of("/?#", authority), url.size());
  const size_t at = url.rfind('@', authority_end);
  if (at == std::string::npos || at < authority) return {std::string::npos, std::string::npos};
  const size_t colon = url.find(':', authority);
  if (colon == std::string::npos || colon > at) return {std::string::npos, std::string::npos};
  return {colon + 1, at};
}

}  // namespace

Status CheckStreamUrl(const std::string& url) {
  if (url.size() > kMaxStreamUrlChars)
    return Status::InvalidArgument("the camera address is longer than " +
                                   std::to_string(kMaxStreamUrlChars) + " characters");
  if (std::any_of(url.begin(), url.end(), [](unsigned char c) { return c <= 0x20 || c == 0x7f; }))
    return Status::InvalidArgument("the camera address must not hold spaces or control characters");
  std::string lower = url.substr(0, 9);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const bool network = std::any_of(std::begin(kSchemes), std::end(kSchemes),
                                   [&](const char* s) { return lower.starts_with(s); });
  if (!network)
    return Status::InvalidArgument(
        "the camera address must start with rtsp://, rtsps://, http:// or https:// (files and "
        "devices can be set only in the config file)");
  const size_t authority = url.find("://") + 3;
  const size_t host = url.rfind('@', std::min(url.find_first_of("/?#", authority), url.size()));
  const size_t host_begin = host == std::string::npos || host < authority ? authority : host + 1;
  if (host_begin >= url.size() || url[host_begin] == '/' || url[host_begin] == ':')
    return Status::InvalidArgument("the camera address has no host");
  return Status::Ok();
}

std::string RedactUrlPassword(const std::string& url) {
  const auto [begin, end] = PasswordSpan(url);
  if (begin == std::string::npos) return url;
  return url.substr(0, begin) + kMasked + url.substr(end);
}

Result<std::string> RestoreUrlPassword(const std::string& url, const std::string& stored) {
  const auto [begin, end] = PasswordSpan(url);
  if (begin == std::string::npos || url.compare(begin, end - begin, kMasked) != 0) return url;
  const auto [stored_begin, stored_end] = PasswordSpan(stored);
  if (stored_begin == std::string::npos)
    return Status::InvalidArgument("the camera address has the password '***'; type the password");
  return url.substr(0, begin) + stored.substr(stored_begin, stored_end - stored_begin) +
         url.substr(end);
}

}  // namespace concierge
