#include "support/s3_fixture.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <sstream>

namespace concierge::testing {

namespace {

constexpr char kListening[] = "S3rver listening on 127.0.0.1:";

std::string S3rverCli() {
  return std::string(CONCIERGE_SOURCE_DIR) + "/tests/s3rver/node_modules/s3rver/bin/s3rver.js";
}

// The node executable on PATH, or "" when there is none.
std::string NodeBinary() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    for (const char* name : {"node", "nodejs"}) {
      const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  return "";
}

}  // namespace

S3rverServer::~S3rverServer() = default;

bool S3rverServer::Available() { return MissingWhat().empty(); }

std::string S3rverServer::MissingWhat() {
  if (NodeBinary().empty()) return "node NOT ON PATH (apt-get install nodejs npm)";
  if (access(S3rverCli().c_str(), R_OK) != 0) return "s3rver MISSING at " + S3rverCli();
  return "";
}

std::string S3rverServer::Endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::string S3rverServer::Log() const { return ReadFile(dir_.Sub("s3rver.log")); }

ObjectStoreConfig S3rverServer::MakeConfig(const std::string& bucket) const {
  ObjectStoreConfig config;
  config.kind = "s3";
  config.s3_endpoint = Endpoint();
  config.s3_bucket = bucket;
  config.s3_region = "us-east-1";
  config.s3_access_key = kAccessKey;
  config.s3_secret_key = kSecretKey;
  return config;
}

Status S3rverServer::Start() {
  if (running()) return Status::Ok();
  if (!Available()) return Status::NotFound(MissingWhat());
  return StartOnAPort(port_, [this] { return StartOnce(); });
}

Status S3rverServer::StartOnce() {
  const std::string node = NodeBinary();
  const std::string cli = S3rverCli();
  const std::string data = dir_.Sub("data");
  const std::string port = std::to_string(port_);
  const std::string log_path = dir_.Sub("s3rver.log");
  const size_t log_start = ReadFile(log_path).size();

  // s3rver makes continuation tokens with DES, which OpenSSL 3 keeps in its legacy provider.
  if (!server_.Start({node, "--openssl-legacy-provider", cli, "--directory", data, "--address",
                      "127.0.0.1", "--port", port, "--silent"},
                     log_path, {}))
    return Status::Internal("fork failed");
  // Printed once the socket listens; with port 0 it names the port chosen.
  size_t at = std::string::npos;
  switch (server_.WaitUntil(
      [&] {
        const std::string log = ReadFile(log_path);
        at = log.find(kListening, log_start);
        return at != std::string::npos && log.find('\n', at) != std::string::npos;
      },
      std::chrono::seconds(30))) {
    case ChildProcess::Readiness::kReady:
      port_ = std::atoi(ReadFile(log_path).c_str() + at + sizeof(kListening) - 1);
      return Status::Ok();
    case ChildProcess::Readiness::kExited:
      return Status::Unavailable("s3rver exited: " + ReadFile(log_path).substr(log_start));
    case ChildProcess::Readiness::kTimedOut:
      break;
  }
  server_.Kill();
  return Status::Unavailable("s3rver did not come up: " + ReadFile(log_path).substr(log_start));
}

Status S3rverServer::Stop() {
  server_.Signal(SIGCONT);  // a paused server cannot act on SIGTERM
  if (server_.Stop(SIGTERM, std::chrono::seconds(20))) return Status::Ok();
  return Status::Internal("s3rver ignored SIGTERM; killed");
}

void S3rverServer::Pause() { server_.Signal(SIGSTOP); }

void S3rverServer::Resume() { server_.Signal(SIGCONT); }

}  // namespace concierge::testing
