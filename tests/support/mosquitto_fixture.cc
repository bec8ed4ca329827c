#include "support/mosquitto_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace concierge::testing {

namespace {

constexpr char kBroker[] = "/usr/sbin/mosquitto";
constexpr char kPasswdTool[] = "/usr/bin/mosquitto_passwd";

// A port the kernel just handed out; free unless someone takes it meanwhile.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

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

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

MosquittoBroker::MosquittoBroker(MosquittoOptions options) : options_(std::move(options)) {}

MosquittoBroker::~MosquittoBroker() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

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
  const bool fixed_port = port_ != 0;
  Status st;
  // A fresh port can be taken between FreePort and the broker's bind: try another.
  // A fixed port may linger briefly after Stop: try it again.
  for (int attempt = 0; attempt < (fixed_port ? 50 : 5); ++attempt) {
    if (!fixed_port) port_ = FreePort();
    st = StartOnce();
    if (st.ok()) return st;
    if (fixed_port) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return st;
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

  const pid_t pid = fork();
  if (pid < 0) return Status::Internal("fork failed");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
    const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(log, 1);
    dup2(log, 2);
    execl(kBroker, "mosquitto", "-c", conf.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::Unavailable("mosquitto exited on port " + std::to_string(port_) + ": " +
                                 ReadFile(log_path).substr(log_start));
    }
    // "running" is logged once every listener is open, so the port is ours.
    if (ReadFile(log_path).find(" running", log_start) != std::string::npos && Accepts(port_))
      return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  return Status::Unavailable("mosquitto did not come up on port " + std::to_string(port_));
}

Status MosquittoBroker::Stop() {
  if (!running()) return Status::Ok();
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
  return Status::Internal("mosquitto ignored SIGTERM; killed");
}

Status MosquittoBroker::Kill() {
  if (!running()) return Status::Ok();
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  return Status::Ok();
}

void MosquittoBroker::Pause() {
  if (running()) kill(pid_, SIGSTOP);
}

void MosquittoBroker::Resume() {
  if (running()) kill(pid_, SIGCONT);
}

}  // namespace concierge::testing
