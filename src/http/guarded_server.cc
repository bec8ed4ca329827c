#include "http/guarded_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace concierge {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How often a wait looks whether the server is stopping.
constexpr milliseconds kStopCheck{100};

std::string AddressOf(const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = "";
  if (addr.ss_family == AF_INET)
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(addr).sin_addr, text, sizeof text);
  else if (addr.ss_family == AF_INET6)
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(addr).sin6_addr, text,
                sizeof text);
  return text;
}

int PortOf(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
  if (addr.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
  return 0;
}

// A connection's byte stream (plain or TLS) on a non-blocking socket. Reads
// of a request fail once its deadline passed: the head deadline until the
// blank line that ends the headers went by, the request deadline after.
class DeadlineStream final : public httplib::Stream {
 public:
  DeadlineStream(socket_t sock, const std::atomic<socket_t>& server_socket, milliseconds read_timeout,
                 milliseconds write_timeout)
      : sock_(sock),
        server_socket_(server_socket),
        read_timeout_(read_timeout),
        write_timeout_(write_timeout) {}

  void set_ssl(SSL* ssl) { ssl_ = ssl; }

  // Starts the clocks of a new request (or of the TLS handshake).
  void StartRequest(const ConnectionLimits& limits) {
    const auto now = Clock::now();
    head_deadline_ = now + limits.header_timeout;
    request_deadline_ = now + limits.request_timeout;
    head_done_ = false;
    tail_ = 0;
  }

  // Completes the TLS handshake before the head deadline.
  bool Handshake() {
    for (;;) {
      ERR_clear_error();
      const int r = SSL_accept(ssl_);
      if (r == 1) return true;
      const int error = SSL_get_error(ssl_, r);
      const short want = error == SSL_ERROR_WANT_READ    ? POLLIN
                         : error == SSL_ERROR_WANT_WRITE ? POLLOUT
                                                         : 0;
      if (want == 0 || !WaitUntil(want, head_deadline_)) return false;
    }
  }

  // Waits up to `idle` for the next request on a kept-alive connection.
  bool WaitForRequest(milliseconds idle) const {
    if (ssl_ != nullptr && SSL_pending(ssl_) > 0) return true;
    return Wait(POLLIN, idle);
  }

  bool is_readable() const override {
    if (ssl_ != nullptr && SSL_pending(ssl_) > 0) return true;
    return Wait(POLLIN, read_timeout_);
  }
  bool is_writable() const override { return Wait(POLLOUT, write_timeout_); }

  ssize_t read(char* ptr, size_t size) override {
    for (;;) {
      short want = POLLIN;
      if (ssl_ != nullptr) {
        ERR_clear_error();
        const int n = SSL_read(ssl_, ptr, static_cast<int>(std::min<size_t>(size, INT_MAX)));
        if (n > 0) return Received(ptr, n);
        const int error = SSL_get_error(ssl_, n);
        if (error == SSL_ERROR_ZERO_RETURN) return 0;
        if (error == SSL_ERROR_WANT_WRITE) want = POLLOUT;
        else if (error != SSL_ERROR_WANT_READ) return -1;
      } else {
        const ssize_t n = ::recv(sock_, ptr, size, 0);
        if (n >= 0) return Received(ptr, n);
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      }
      const auto deadline =
          std::min(head_done_ ? request_deadline_ : head_deadline_, Clock::now() + read_timeout_);
      if (!WaitUntil(want, deadline)) return -1;
    }
  }

  ssize_t write(const char* ptr, size_t size) override {
    for (;;) {
      short want = POLLOUT;
      if (ssl_ != nullptr) {
        ERR_clear_error();
        const int n = SSL_write(ssl_, ptr, static_cast<int>(std::min<size_t>(size, INT_MAX)));
        if (n > 0) return n;
        const int error = SSL_get_error(ssl_, n);
        if (error == SSL_ERROR_WANT_READ) want = POLLIN;
        else if (error != SSL_ERROR_WANT_WRITE) return -1;
      } else {
        const ssize_t n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      }
      if (!WaitUntil(want, Clock::now() + write_timeout_)) return -1;
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getpeername(sock_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
    ip = AddressOf(addr);
    port = PortOf(addr);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(sock_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
    ip = AddressOf(addr);
    port = PortOf(addr);
  }
  socket_t socket() const override { return sock_; }

 private:
  // Notes the end of the head: the first blank line ("\r\n\r\n", or "\n\n").
  ssize_t Received(const char* ptr, ssize_t n) {
    for (ssize_t i = 0; i < n && !head_done_; ++i) {
      tail_ = (tail_ << 8) | static_cast<unsigned char>(ptr[i]);
      head_done_ = tail_ == 0x0d0a0d0a || (tail_ & 0xffff) == 0x0a0a;
    }
    return n;
  }

  bool Wait(short events, milliseconds timeout) const {
    return WaitUntil(events, Clock::now() + timeout);
  }

  // Polls in short slices, so a stopping server is not kept waiting.
  bool WaitUntil(short events, Clock::time_point deadline) const {
    for (;;) {
      if (server_socket_ == INVALID_SOCKET) return false;
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      pollfd p{sock_, events, 0};
      const int r = ::poll(&p, 1, static_cast<int>(std::min(left, kStopCheck).count()));
      if (r > 0) return (p.revents & (events | POLLHUP | POLLERR)) != 0;
      if (r < 0 && errno != EINTR) return false;
    }
  }

  const socket_t sock_;
  const std::atomic<socket_t>& server_socket_;
  const milliseconds read_timeout_;
  const milliseconds write_timeout_;
  SSL* ssl_ = nullptr;
  Clock::time_point head_deadline_{};
  Clock::time_point request_deadline_{};
  bool head_done_ = false;
  uint32_t tail_ = 0;
};

std::string PeerAddress(socket_t sock) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(sock, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "";
  return AddressOf(addr);
}

milliseconds ToMs(time_t sec, time_t usec) { return milliseconds(sec * 1000 + usec / 1000); }

}  // namespace

GuardedServer::GuardedServer(ConnectionLimits limits, SSL_CTX* tls) : limits_(limits), tls_(tls) {}

GuardedServer::~GuardedServer() {
  if (tls_ != nullptr) SSL_CTX_free(tls_);
}

Result<SSL_CTX*> GuardedServer::LoadTls(const std::string& cert_file,
                                        const std::string& key_file) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return Status::Internal("cannot create a TLS context");
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return Status::InvalidArgument("cannot load the TLS certificate " + cert_file + " with key " +
                                   key_file);
  }
  return ctx;
}

bool GuardedServer::Admit(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  int& open = open_[address];
  if (open >= limits_.max_per_client) return false;
  ++open;
  return true;
}

void GuardedServer::Release(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  if (--open_[address] <= 0) open_.erase(address);
}

bool GuardedServer::process_and_close_socket(socket_t sock) {
  const std::string peer = PeerAddress(sock);
  const bool admitted = Admit(peer);
  bool ret = false;
  if (!admitted) {
    if (tls_ == nullptr) {
      const std::string body =
          "{\"error\":{\"code\":\"unavailable\",\"message\":\"too many connections from "
          "this address\"}}";
      const std::string busy =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
          "Connection: close\r\nRetry-After: 10\r\nContent-Length: " +
          std::to_string(body.size()) + "\r\n\r\n" + body;
      (void)!::send(sock, busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
  } else {
    ::fcntl(sock, F_SETFL, ::fcntl(sock, F_GETFL) | O_NONBLOCK);
    DeadlineStream strm(sock, svr_sock_, ToMs(read_timeout_sec_, read_timeout_usec_),
                        ToMs(write_timeout_sec_, write_timeout_usec_));
    SSL* ssl = nullptr;
    bool ready = true;
    if (tls_ != nullptr) {
      ssl = SSL_new(tls_);
      ready = ssl != nullptr && SSL_set_fd(ssl, sock) == 1;
      if (ready) {
        strm.set_ssl(ssl);
        strm.StartRequest(limits_);  // the handshake counts against the head deadline
        ready = strm.Handshake();
      }
    }
    for (size_t left = keep_alive_max_count_; ready && left > 0; --left) {
      if (svr_sock_ == INVALID_SOCKET ||
          !strm.WaitForRequest(std::chrono::seconds(keep_alive_timeout_sec_)))
        break;
      strm.StartRequest(limits_);
      bool closed = false;
      ret = process_request(strm, left == 1, closed, [ssl](httplib::Request& req) {
        req.ssl = ssl;
      });
      if (!ret || closed) break;
    }
    if (ssl != nullptr) {
      if (ret) SSL_shutdown(ssl);
      SSL_free(ssl);
    }
    ERR_clear_error();
    Release(peer);
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ret;
}

}  // namespace concierge
