#include "support/mosquitto_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

namespace concierge::testing {

namespace {

constexpr char kBroker[] = "/usr/sbin/mosquitto";
constexpr char kPasswdTool[] = "/usr/bin/mosquitto_passwd";

bool Accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

}  // namespace

MosquittoBroker::MosquittoBroker(MosquittoOptions options) : options_(std::move(options)) {}

MosquittoBroker::~MosquittoBroker() = default;

bool MosquittoBroker::Available() { return access(kBroker, X_OK) == 0; }

bool MosquittoBroker::PasswdToolAvailable() { return access(kPasswdTool, X_OK) == 0; }

std::string MosquittoBroker::Log() const { return ReadFile(dir_.Sub("mosquitto.log")); }

BusConfig MosquittoBroker::MakeBusConfig(const std::string& client_id, int protocol) const {
  BusConfig config;
  config.kind = "mqtt";
  config.mqtt.host = "127.0.0.1";
  config.mqtt.port = port_;
  config.mqtt.client_id = client_id;
  config.mqtt.protocol = protocol;
  config.mqtt.username = options_.username;
  config.mqtt.password = options_.password;
  config.mqtt.keepalive_s = 10;
  return config;
}

Status MosquittoBroker::Start() {
  if (running()) return Status::Ok();
  if (!Available()) return Status::NotFound(std::string(kBroker) + " is missing");
  return StartOnAPort(port_, [this] { return StartOnce(); });
}

Status MosquittoBroker::StartOnce() {
  const bool auth = !options_.username.empty() && !options_.password.empty();
  const std::string conf = dir_.Sub("mosquitto.conf");
  const std::string pw_file = dir_.Sub("passwd");
  if (auth && !std::filesystem::exists(pw_file)) {
    if (!PasswdToolAvailable()) return Status::NotFound(std::string(kPasswdTool) + " is missing");
    const auto r = RunCommand({kPasswdTool, "-c", "-b", pw_file, options_.username,
                               options_.password});
    if (r.exit_code != 0) return Status::Internal("mosquitto_passwd failed: " + r.err);
  }
  {
    const passwd* user = getpwuid(geteuid());
    std::ofstream out(conf, std::ios::trunc);
    out << "listener " << port_ << " 127.0.0.1\n"
        << "allow_anonymous " << (auth ? "false" : "true") << "\n"
        << (auth ? "password_file " + pw_file + "\n" : "")
        << "persistence " << (options_.persistence ? "true" : "false") << "\n"
        << "persistence_location " << dir_.path() << "/\n"
        // Stay as the test's user so the broker can use the test's temp dir.
        << "user " << (user ? user->pw_name : "root") << "\n"
        << "log_dest stderr\n"
        << "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n";
    if (!out) return Status::IoError("cannot write " + conf);
  }
  const std::string log_path = dir_.Sub("mosquitto.log");
  const size_t log_start = ReadFile(log_path).size();

  if (!broker_.Start({kBroker, "-c", conf}, log_path, {}))
    return Status::Internal("fork failed");
  // "running" is logged once every listener is open, so the port is ours.
  switch (broker_.WaitUntil(
      [&] {
        return ReadFile(log_path).find(" running", log_start) != std::string::npos &&
               Accepts(port_);
      },
      std::chrono::seconds(20))) {
    case ChildProcess::Readiness::kReady:
      return Status::Ok();
    case ChildProcess::Readiness::kExited:
      return Status::Unavailable("mosquitto exited on port " + std::to_string(port_) + ": " +
                                 ReadFile(log_path).substr(log_start));
    case ChildProcess::Readiness::kTimedOut:
      break;
  }
  broker_.Kill();
  return Status::Unavailable("mosquitto did not come up on port " + std::to_string(port_));
}

Status MosquittoBroker::Stop() {
  // A SIGTERM sent just after mosquitto said "running" was seen to go unheeded
  // for 20 s (twice, under load), as if it came before the broker listened for
  // it. So ask again each second.
  for (int attempt = 0; attempt < 20; ++attempt) {
    broker_.Signal(SIGTERM);
    if (!broker_.running() || broker_.Wait(std::chrono::seconds(1)) >= 0) return Status::Ok();
  }
  broker_.Kill();
  return Status::Internal("mosquitto ignored SIGTERM for 20 s; killed");
}

Status MosquittoBroker::Kill() {
  broker_.Kill();
  return Status::Ok();
}

void MosquittoBroker::Pause() { broker_.Signal(SIGSTOP); }

void MosquittoBroker::Resume() { broker_.Signal(SIGCONT); }

}  // namespace concierge::testing
