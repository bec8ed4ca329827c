#include "http/http_server.h"

#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "http/api_support.h"
#include "http/auth.h"
#include "http/admin_routes.h"
#include "http/auth_routes.h"
#include "http/camera_routes.h"
#include "http/data_routes.h"
#include "http/presence_routes.h"
#include "http/guarded_server.h"
#include "http/ops_routes.h"
#include "http/rekognition_routes.h"
#include "notify/slack_interactions.h"

namespace concierge {

namespace {

namespace fs = std::filesystem;

// Sent with every response. The UI loads only its own scripts and styles
// (Vite may inline small styles) and talks only to this server.
constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

// Prefixes that belong to the server, never to the UI's client-side routes.
constexpr const char* kServerPrefixes[] = {"/api", "/slack", "/healthz", "/readyz", "/metrics"};

thread_local std::chrono::steady_clock::time_point request_start;

bool HasServerPrefix(const std::string& path) {
  for (std::string_view prefix : kServerPrefixes) {
    if (path.rfind(prefix, 0) == 0 && (path.size() == prefix.size() || path[prefix.size()] == '/'))
      return true;
  }
  return false;
}

const char* MimeType(const fs::path& file) {
  static const std::pair<const char*, const char*> kTypes[] = {
      {".html", "text/html; charset=utf-8"},  {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},          {".map", "application/json"},
      {".webmanifest", "application/manifest+json"}, {".svg", "image/svg+xml"},
      {".png", "image/png"},                  {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},                {".ico", "image/x-icon"},
      {".webp", "image/webp"},                {".woff2", "font/woff2"},
      {".woff", "font/woff"},                 {".txt", "text/plain; charset=utf-8"}};
  const std::string ext = file.extension().string();
  for (const auto& [known, type] : kTypes)
    if (ext == known) return type;
  return "application/octet-stream";
}

// The file under `root` that `url_path` (already percent-decoded) names, or
// nullopt when the path tries to leave root (.., backslashes, NULs, symlinks
// pointing outside).
std::optional<fs::path> ResolveUnder(const fs::path& root, const std::string& url_path) {
  fs::path relative;
  std::stringstream segments(url_path);
  for (std::string segment; std::getline(segments, segment, '/');) {
    if (segment.empty()) continue;
    if (segment == "." || segment == ".." || segment.find('\\') != std::string::npos ||
        segment.find('\0') != std::string::npos)
      return std::nullopt;
    relative /= segment;
  }
  std::error_code ec;
  const fs::path candidate = fs::weakly_canonical(root / relative, ec);
  if (ec) return std::nullopt;
  const auto [root_end, unused] =
      std::mismatch(root.begin(), root.end(), candidate.begin(), candidate.end());
  if (root_end != root.end()) return std::nullopt;
  return candidate;
}

std::optional<std::string> ReadWholeFile(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// Serves the built UI: files as they are, client-side routes (no file
// extension) as index.html. Hashed build assets are cached for a year,
// everything else is revalidated.
void ServeWebUi(const fs::path& root, const httplib::Request& req, httplib::Response& res) {
  const auto file = ResolveUnder(root, req.path);
  if (!file) {
    SendErrorCode(res, 404, "no such file");
    return;
  }
  std::error_code ec;
  fs::path target = *file;
  if (!fs::is_regular_file(target, ec)) {
    if (fs::path(req.path).has_extension()) {
      SendErrorCode(res, 404, "no such file");
      return;
    }
    target = root / "index.html";
  }
  const auto bytes = ReadWholeFile(target);
  if (!bytes) {
    SendErrorCode(res, 404, "the web UI is not built (npm run build in web/)");
    return;
  }
  const bool hashed_asset = req.path.rfind("/assets/", 0) == 0 && target != root / "index.html";
  res.set_header("Cache-Control",
                 hashed_asset ? "public, max-age=31536000, immutable" : "no-cache");
  res.set_content(*bytes, MimeType(target));
}

fs::path WebRoot(const Config& config) {
  const fs::path dir = config.http.web_dir.empty() ? fs::path(CONCIERGE_WEB_DIR)
                                                   : fs::path(config.http.web_dir);
  std::error_code ec;
  const fs::path canonical = fs::weakly_canonical(fs::absolute(dir, ec), ec);
  return ec ? dir : canonical;
}

// The path for the log: at most 256 bytes, control characters (a decoded
// %0a could forge log lines) and quotes replaced.
std::string LoggablePath(const std::string& path) {
  std::string out = path.substr(0, 256);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '"') c = '?';
  return out;
}

void LogAccess(const httplib::Request& req, const httplib::Response& res) {
  const auto elapsed = std::chrono::steady_clock::now() - request_start;
  const double ms = std::chrono::duration<double, std::milli>(elapsed).count();
  const auto level = (HasServerPrefix(req.path) || res.status >= 400) ? spdlog::level::info
                                                                      : spdlog::level::debug;
  spdlog::log(level, "http: method={} path=\"{}\" status={} bytes={} ms={:.1f} client={}",
              LoggablePath(req.method), LoggablePath(req.path), res.status, res.body.size(), ms,
              req.remote_addr);
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Start(ApiContext parts) {
  if (parts.config == nullptr || parts.audit == nullptr ||
      (parts.auth == nullptr && parts.accounts == nullptr))
    return Status::InvalidArgument("the HTTP server needs a config, an audit log and accounts");
  const HttpConfig& http = parts.config->http;
  std::unique_ptr<HttpServer> server(new HttpServer());
  if (http.tls_cert_file.empty() != http.tls_key_file.empty())
    return Status::InvalidArgument("http.tls_cert_file and http.tls_key_file must be set together");
  server->tls_ = !http.tls_cert_file.empty();
  if (server->tls_) {
    for (const auto& file : {http.tls_cert_file, http.tls_key_file}) {
      std::error_code ec;
      if (!fs::is_regular_file(file, ec))
        return Status::InvalidArgument("TLS file " + file + " does not exist");
    }
  }
  SSL_CTX* tls = nullptr;
  if (server->tls_) {
    ASSIGN_OR_RETURN(tls, GuardedServer::LoadTls(http.tls_cert_file, http.tls_key_file));
  }
  const ConnectionLimits limits{std::chrono::seconds(std::max(1, http.header_timeout_s)),
                                std::chrono::seconds(std::max(1, http.request_timeout_s)),
                                std::max(1, http.max_connections_per_client)};
  server->server_ = std::make_unique<GuardedServer>(limits, tls);

  server->context_ = parts;
  if (server->context_.auth == nullptr) {
    server->own_auth_ =
        std::make_unique<Authenticator>(parts.accounts, parts.config->auth, server->tls_);
    server->context_.auth = server->own_auth_.get();
  }
  server->Configure();

  httplib::Server& s = *server->server_;
  // cpp-httplib's default also sets SO_REUSEPORT, which lets a second instance
  // bind the same port and share its connections; SO_REUSEADDR alone only
  // allows a restart while old connections linger in TIME_WAIT.
  s.set_socket_options([](socket_t sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  errno = 0;
  if (http.port == 0) {
    server->port_ = s.bind_to_any_port(http.bind);
  } else {
    server->port_ = s.bind_to_port(http.bind, http.port) ? http.port : -1;
  }
  if (server->port_ <= 0 && errno == EADDRINUSE)
    return Status::Unavailable("port " + std::to_string(http.port) + " on " + http.bind +
                               " is already in use (another concierge?); stop it or choose "
                               "another http.port");
  if (server->port_ <= 0)
    return Status::Unavailable("cannot listen on " + http.bind + ":" + std::to_string(http.port) +
                               " (address not local, or not permitted)");
  server->thread_ = std::thread([&s] { s.listen_after_bind(); });
  // stop() is a no-op until the accept loop runs, so Stop() must not race ahead of it.
  while (!s.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return server;
}

void HttpServer::Configure() {
  const Config& config = *context_.config;
  httplib::Server& s = *server_;
  const size_t threads = static_cast<size_t>(std::max(1, config.http.threads));
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // Small JSON replies would otherwise wait out Nagle plus delayed ACK (~40 ms).
  s.set_tcp_nodelay(true);
  s.set_payload_max_length(static_cast<size_t>(std::max<int64_t>(0, config.http.max_body_bytes)));

  s.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    request_start = std::chrono::steady_clock::now();
    // cpp-httplib 0.11 applies the body limit only to Content-Length bodies;
    // a chunked body would be read whole, however large.
    if (req.has_header("Transfer-Encoding")) {
      res.set_header("Connection", "close");
      SendErrorCode(res, 411, "request bodies need a Content-Length (no chunked encoding)");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Errors httplib produces itself (no route, 413, 400) and empty error
  // bodies from handlers get the same JSON shape as every other error.
  s.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req,
                                                              httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (IsAwsRequest(req)) {
      const int status = res.status;
      SendAwsError(res,
                   status == 413   ? MakeAwsError("ImageTooLargeException", "Request is too large.")
                   : status == 404 ? MakeAwsError("UnknownOperationException", "No such endpoint.")
                   : status < 500  ? MakeAwsError("SerializationException", "Malformed request.")
                                   : MakeAwsError("InternalServerError", "Internal server error."),
                   status);
      return httplib::Server::HandlerResponse::Handled;
    }
    const char* message = res.status == 404   ? "no such endpoint"
                          : res.status == 413 ? "request body is too large"
                                              : "the request could not be handled";
    SendErrorCode(res, res.status, message);
    return httplib::Server::HandlerResponse::Handled;
  }));
  s.set_exception_handler([](const httplib::Request& req, httplib::Response& res,
                             std::exception_ptr error) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    spdlog::error("http: handler threw method={} path=\"{}\" error=\"{}\"",
                  LoggablePath(req.method), LoggablePath(req.path), what);
    res.headers.clear();
    SendErrorCode(res, 500, "internal error; see the server log");
  });
  s.set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("X-Frame-Options", "DENY");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header("Content-Security-Policy", kContentSecurityPolicy);
    if (!res.has_header("Cache-Control")) res.set_header("Cache-Control", "no-store");
  });
  s.set_logger(LogAccess);

  RegisterAuthRoutes(s, context_);
  RegisterAdminRoutes(s, context_);
  RegisterTimelineRoutes(s, context_);
  RegisterUnknownRoutes(s, context_);
  RegisterPeopleRoutes(s, context_);
  RegisterRecognitionRoutes(s, context_);
  RegisterPresenceRoutes(s, context_);
  RegisterOpsRoutes(s, context_);
  RegisterCameraRoutes(s, context_);
  RegisterRekognitionRoutes(s, context_);
  SlackInteractions* slack = context_.slack;
  s.Post("/slack/interactive", [slack](const httplib::Request& req, httplib::Response& res) {
    if (slack == nullptr) return SendErrorCode(res, 503, "Slack is not configured here");
    const InteractionReply reply =
        slack->Handle(req.get_header_value("X-Slack-Request-Timestamp"),
                      req.get_header_value("X-Slack-Signature"), req.body);
    res.status = reply.status;
    res.set_content(reply.body, reply.content_type);
  });

  // Last, so every API route above wins: unknown server paths are 404 JSON,
  // everything else is the UI.
  const fs::path web_root = WebRoot(config);
  s.Get(".*", [web_root](const httplib::Request& req, httplib::Response& res) {
    if (HasServerPrefix(req.path)) {
      SendErrorCode(res, 404, "no such endpoint");
      return;
    }
    ServeWebUi(web_root, req, res);
  });
}

std::string HttpServer::url() const {
  const std::string& host = context_.config->http.bind;
  const bool any = host == "0.0.0.0" || host == "::";
  return std::string(tls_ ? "https" : "http") + "://" + (any ? "127.0.0.1" : host) + ":" +
         std::to_string(port_);
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace concierge
