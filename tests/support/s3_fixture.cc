#include "support/s3_fixture.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

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

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

S3rverServer::~S3rverServer() {
  if (pid_ > 0) {
    kill(pid_, SIGCONT);
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

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
  Status st;
  // A port just given up may linger for a moment before it can be bound again.
  for (int attempt = 0; attempt < (port_ != 0 ? 50 : 1); ++attempt) {
    st = StartOnce();
    if (st.ok()) return st;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return st;
}

Status S3rverServer::StartOnce() {
  const std::string node = NodeBinary();
  const std::string cli = S3rverCli();
  const std::string data = dir_.Sub("data");
  const std::string port = std::to_string(port_);
  const std::string log_path = dir_.Sub("s3rver.log");
  const size_t log_start = ReadFile(log_path).size();

  const pid_t pid = fork();
  if (pid < 0) return Status::Internal("fork failed");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
    const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(log, 1);
    dup2(log, 2);
    // s3rver makes continuation tokens with DES, which OpenSSL 3 keeps in its legacy provider.
    execl(node.c_str(), "node", "--openssl-legacy-provider", cli.c_str(), "--directory",
          data.c_str(), "--address", "127.0.0.1", "--port", port.c_str(), "--silent",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::Unavailable("s3rver exited: " + ReadFile(log_path).substr(log_start));
    }
    // Printed once the socket listens; with port 0 it names the port chosen.
    const std::string log = ReadFile(log_path);
    const size_t at = log.find(kListening, log_start);
    if (at != std::string::npos && log.find('\n', at) != std::string::npos) {
      port_ = std::atoi(log.c_str() + at + sizeof(kListening) - 1);
      return Status::Ok();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  return Status::Unavailable("s3rver did not come up: " + ReadFile(log_path).substr(log_start));
}

Status S3rverServer::Stop() {
  if (!running()) return Status::Ok();
  kill(pid_, SIGCONT);
  kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::Ok();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  return Status::Internal("s3rver ignored SIGTERM; killed");
}

void S3rverServer::Pause() {
  if (running()) kill(pid_, SIGSTOP);
}

void S3rverServer::Resume() {
  if (running()) kill(pid_, SIGCONT);
}

}  // namespace concierge::testing
