// The HTTP server's connection handling: an httplib::Server whose clients
// cannot hold it hostage. cpp-httplib 0.11 gives each connection a worker
// thread for as long as the client keeps sending, and its read timeout
// restarts with every byte, so eight clients sending one header line a
// second held every thread. Here each connection has:
//   - a deadline for the request head (request line and headers, and the TLS
//     handshake), and one for the whole request (body included), both counted
//     from the request's first byte;
//   - a cap per client address: connections beyond it get 503 and are closed
//     at once, so one address cannot take every worker thread.
// TLS is done here too (OpenSSL directly), since httplib's SSLServer keeps
// its connection loop private.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include <httplib.h>

#include "core/status.h"

namespace concierge {

struct ConnectionLimits {
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds request_timeout{60'000};
  int max_per_client = 16;
};

class GuardedServer : public httplib::Server {
 public:
  // `tls` is null for plain HTTP, else a context from LoadTls, which the
  // server then owns.
  GuardedServer(ConnectionLimits limits, SSL_CTX* tls);
  ~GuardedServer() override;

  // A server-side TLS context with the PEM certificate chain and key loaded
  // and checked against each other; InvalidArgument naming the files otherwise.
  static Result<SSL_CTX*> LoadTls(const std::string& cert_file, const std::string& key_file);

 private:
  bool process_and_close_socket(socket_t sock) override;
  // False when `address` already holds limits_.max_per_client connections.
  bool Admit(const std::string& address);
  void Release(const std::string& address);

  const ConnectionLimits limits_;
  SSL_CTX* const tls_;
  std::mutex mu_;
  std::map<std::string, int> open_;  // connections per client address
};

}  // namespace concierge
