// Network camera addresses (rtsp://, rtsps://, http://, https://) as the API
// takes them: what a valid one looks like, and their credentials, which are a
// secret: shown only as "user:***", never in a response, log line or audit entry.
// Pure functions; safe from any thread.
#pragma once

#include <string>

#include "core/status.h"

namespace concierge {

inline constexpr size_t kMaxStreamUrlChars = 1024;

// OK when `url` is an rtsp/rtsps/http/https URL with a host, at most
// kMaxStreamUrlChars, with no spaces or control characters. Anything else
// (files, folders, devices, other schemes) is kInvalidArgument: the API must
// never make the server read a local path. The message never holds the URL.
Status CheckStreamUrl(const std::string& url);

// `url` with the password of its user:password@ part replaced by "***"
// ("rtsp://ada:***@cam/live"); other text unchanged.
std::string RedactUrlPassword(const std::string& url);

// When `url`'s password is "***" (a redacted URL sent back by the UI), `url`
// with `stored`'s password; else `url` itself. kInvalidArgument when `stored`
// has no password to restore.
Result<std::string> RestoreUrlPassword(const std::string& url, const std::string& stored);

}  // namespace concierge
