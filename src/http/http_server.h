// The one HTTP server of `concierge run` and `serve`: the REST API (route
// modules auth_routes, data_routes, ops_routes), POST /slack/interactive, the
// Rekognition-compatible API (POST /, rekognition_routes) and the built web UI,
// over HTTP or TLS (http.tls_cert_file + http.tls_key_file). Requests with
// X-Amz-Target get AWS-shaped errors instead (rekognition_routes.h).
//
// Every answer is safe to show: errors are JSON {"error": {"code","message"}},
// exceptions from handlers become 500 JSON, bodies above http.max_body_bytes
// get 413, unknown /api paths get 404 JSON. Slow or greedy clients cannot hold
// the worker threads (GuardedServer: head and request deadlines, a cap per
// client address). The access log names method,
// path, status, size and time; never query strings, headers or bodies.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "core/status.h"
#include "http/api_context.h"

namespace httplib {
class Server;
}

namespace concierge {

class HttpServer {
 public:
  // Needs parts.config, parts.audit and parts.accounts (or parts.auth) that
  // outlive the server; other null parts make their routes answer 503. Creates
  // the Authenticator (unless parts.auth is set), binds http.bind:http.port
  // (0 picks a free port) and serves on a background thread once this returns
  // OK. Fails with InvalidArgument for unusable TLS files and Unavailable when
  // the address cannot be bound.
  static Result<std::unique_ptr<HttpServer>> Start(ApiContext parts);

  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Stops accepting, finishes the requests in flight and joins the thread. Idempotent.
  void Stop();

  int port() const { return port_; }
  // "http://127.0.0.1:8080" or "https://...".
  std::string url() const;
  // The context handed to the route modules (with auth filled in).
  const ApiContext& context() const { return context_; }

 private:
  HttpServer() = default;
  void Configure();

  ApiContext context_;
  std::unique_ptr<Authenticator> own_auth_;
  std::unique_ptr<httplib::Server> server_;
  bool tls_ = false;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace concierge
