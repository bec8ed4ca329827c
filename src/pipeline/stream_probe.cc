#include "pipeline/stream_probe.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <vector>

#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>  // the CAP_* values only

#include "pipeline/camera_registry.h"
#include "vision/image_io.h"
#include "vision/media_plugin.h"

namespace concierge {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct HostPort {
  std::string host;
  std::string port;
};

// The host and port `url` names; the scheme's default port when it gives none.
HostPort ParseHostPort(const std::string& url) {
  const size_t scheme_end = url.find("://");
  const std::string scheme = url.substr(0, scheme_end);
  size_t begin = scheme_end + 3;
  const size_t end = std::min(url.find_first_of("/?#", begin), url.size());
  if (const size_t at = url.rfind('@', end); at != std::string::npos && at >= begin) begin = at + 1;
  std::string authority = url.substr(begin, end - begin);
  HostPort out;
  const size_t bracket = authority.find(']');  // [IPv6]:port
  const size_t colon = authority.rfind(':');
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    out.port = authority.substr(colon + 1);
    authority.resize(colon);
  }
  if (authority.size() > 1 && authority.front() == '[' && authority.back() == ']')
    authority = authority.substr(1, authority.size() - 2);
  out.host = authority;
  if (out.port.empty()) {
    std::string lower(scheme);
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    out.port = lower == "rtsp" ? "554" : lower == "rtsps" ? "322" : lower == "https" ? "443" : "80";
  }
  return out;
}

milliseconds Left(Clock::time_point deadline) {
  return std::max(milliseconds(1),
                  std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
}

// Connects to the camera's host and port, so "nothing answers there" reads as
// such rather than as the stream's vaguer failure.
Status CheckReachable(const HostPort& where, Clock::time_point deadline) {
  const std::string place = where.host + ":" + where.port;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(where.host.c_str(), where.port.c_str(), &hints, &found) != 0 || !found)
    return Status::Unavailable("cannot find the camera's host '" + where.host +
                               "': check the address");
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found, freeaddrinfo);
  Status last = Status::Unavailable("nothing answers at " + place);
  for (addrinfo* a = found; a; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                          a->ai_protocol);
    if (fd < 0) continue;
    int error = connect(fd, a->ai_addr, a->ai_addrlen) == 0 ? 0 : errno;
    if (error == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      const int ready = poll(&p, 1, static_cast<int>(Left(deadline).count()));
      socklen_t len = sizeof(error);
      if (ready <= 0)
        error = ETIMEDOUT;
      else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0)
        error = errno;
    }
    close(fd);
    if (error == 0) return Status::Ok();
    last = error == ETIMEDOUT
               ? Status::Unavailable("no answer from " + place +
                                     " in time: check the address and that the camera is on")
               : Status::Unavailable("nothing answers at " + place +
                                     " (connection refused): check the address and port, and "
                                     "that the camera is on");
  }
  return last;
}

}  // namespace

Result<StreamSnapshot> ProbeStream(const std::string& url, milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  RETURN_IF_ERROR(CheckReachable(ParseHostPort(url), deadline));
  ASSIGN_OR_RETURN(std::unique_ptr<VideoCapture> cap, NewVideoCapture());
  cv::Mat frame;
  try {
    const int left = static_cast<int>(Left(deadline).count());
    const std::vector<int> params = {cv::CAP_PROP_OPEN_TIMEOUT_MSEC, left,
                                     cv::CAP_PROP_READ_TIMEOUT_MSEC, left};
    if (!cap->Open(url, cv::CAP_FFMPEG, params) || !cap->IsOpened())
      return Status::Unavailable(
          "the camera answers but the stream did not open: check the path, the user name and "
          "the password");
    if (Clock::now() >= deadline || !cap->Read(frame) || frame.empty())
      return Status::Unavailable("the stream opened but sent no picture in time");
  } catch (const cv::Exception&) {
    return Status::Unavailable("the stream could not be read");
  }
  StreamSnapshot snapshot;
  snapshot.width = frame.cols;
  snapshot.height = frame.rows;
  if (frame.cols > kPreviewMaxWidth) {
    const double scale = static_cast<double>(kPreviewMaxWidth) / frame.cols;
    cv::resize(frame, frame, cv::Size(), scale, scale, cv::INTER_AREA);
  }
  ASSIGN_OR_RETURN(snapshot.jpeg, EncodeJpeg(frame, kPreviewJpegQuality));
  return snapshot;
}

}  // namespace concierge
