// "Test connection" for a network camera: open its stream, read one frame,
// give it back as a JPEG, or say in plain words what went wrong. Bounded in
// time; each call opens its own connection, so calls may run in parallel.
#pragma once

#include <chrono>
#include <string>

#include "core/status.h"

namespace concierge {

struct StreamSnapshot {
  int width = 0;      // of the stream's frames
  int height = 0;
  std::string jpeg;   // the first frame, scaled to at most kPreviewMaxWidth wide
};

// Needs a URL CheckStreamUrl accepts. Returns within about `timeout` (the
// connect, the stream's open and the first frame share it): the frame, or
// kUnavailable with a reason safe to show (it never holds the credentials).
Result<StreamSnapshot> ProbeStream(const std::string& url, std::chrono::milliseconds timeout);

}  // namespace concierge
