#include "support/pg_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
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
#include <vector>

namespace concierge::testing {

namespace {

namespace fs = std::filesystem;

constexpr char kUser[] = "concierge";
constexpr char kReady[] = "database system is ready to accept connections";

// The bin folder of the newest PostgreSQL under /usr/lib/postgresql, or "".
std::string BinDir() {
  std::error_code ec;
  int best = 0;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const int version = std::atoi(entry.path().filename().c_str());
    if (version > best && access((entry.path() / "bin/postgres").c_str(), X_OK) == 0)
      best = version;
  }
  return best > 0 ? "/usr/lib/postgresql/" + std::to_string(best) + "/bin" : "";
}

// As root, the account the server runs as; nullptr when none is needed or found.
const passwd* ServerUser() { return geteuid() == 0 ? getpwnam("postgres") : nullptr; }

// A port the kernel just handed out; free unless someone takes it meanwhile.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// In a forked child: become the server user (when root), send output to
// `log_path`, start in `dir` and exec `args`. Never returns.
[[noreturn]] void ExecAsServerUser(const std::vector<std::string>& args,
                                   const std::string& log_path, const std::string& dir,
                                   bool die_with_parent) {
  if (const passwd* user = ServerUser()) {
    if (setgroups(0, nullptr) != 0 || setgid(user->pw_gid) != 0 || setuid(user->pw_uid) != 0)
      _exit(126);
  }
  // After setuid, which clears it: never outlive a crashed test.
  if (die_with_parent) prctl(PR_SET_PDEATHSIG, SIGKILL);
  const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  const int devnull = open("/dev/null", O_RDONLY);
  dup2(devnull, 0);
  dup2(log, 1);
  dup2(log, 2);
  if (chdir(dir.c_str()) != 0) _exit(126);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execv(argv[0], argv.data());
  _exit(127);
}

}  // namespace

PgCluster::~PgCluster() { Kill(); }

bool PgCluster::Available() { return MissingWhat().empty(); }

std::string PgCluster::MissingWhat() {
  const std::string bin = BinDir();
  if (bin.empty()) return "PostgreSQL server MISSING (no /usr/lib/postgresql/*/bin/postgres)";
  for (const char* tool : {"initdb", "createdb"})
    if (access((bin + "/" + tool).c_str(), X_OK) != 0) return bin + "/" + tool + " MISSING";
  if (geteuid() == 0 && ServerUser() == nullptr)
    return "user 'postgres' MISSING (needed to run PostgreSQL as root)";
  return "";
}

std::string PgCluster::Url(const std::string& database) const {
  return std::string("postgresql://") + kUser + "@127.0.0.1:" + std::to_string(port_) + "/" +
         database;
}

std::string PgCluster::Log() const { return ReadFile(dir_.Sub("postgres.log")); }

Status PgCluster::Start() {
  if (running()) return Status::Ok();
  if (!Available()) return Status::NotFound(MissingWhat());
  if (!initialised_) {
    if (const passwd* user = ServerUser(); user && chown(dir_.path().c_str(), user->pw_uid,
                                                          user->pw_gid) != 0)
      return Status::IoError("cannot hand " + dir_.path() + " to user postgres");
    const pid_t pid = fork();
    if (pid < 0) return Status::Internal("fork failed");
    if (pid == 0)
      ExecAsServerUser({BinDir() + "/initdb", "-D", dir_.Sub("data"), "-U", kUser,
                        "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync",
                        "--no-instructions"},
                       dir_.Sub("initdb.log"), dir_.path(), true);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return Status::Internal("initdb failed: " + ReadFile(dir_.Sub("initdb.log")));
    initialised_ = true;
  }
  const bool fixed_port = port_ != 0;
  Status st;
  // A fresh port can be taken before the server binds it: try another. A fixed
  // one (or shared memory of a killed server) may linger briefly: try it again.
  for (int attempt = 0; attempt < (fixed_port ? 50 : 5); ++attempt) {
    if (!fixed_port) port_ = FreePort();
    st = StartOnce();
    if (st.ok()) return st;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return st;
}

Status PgCluster::StartOnce() {
  const std::string log_path = dir_.Sub("postgres.log");
  const size_t log_start = ReadFile(log_path).size();
  const pid_t pid = fork();
  if (pid < 0) return Status::Internal("fork failed");
  if (pid == 0)
    ExecAsServerUser({BinDir() + "/postgres", "-D", dir_.Sub("data"), "-p",
                      std::to_string(port_), "-k", dir_.path(), "-c",
                      "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c",
                      "max_connections=40"},
                     log_path, dir_.path(), true);
  pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::Unavailable("postgres exited on port " + std::to_string(port_) + ": " +
                                 ReadFile(log_path).substr(log_start));
    }
    if (ReadFile(log_path).find(kReady, log_start) != std::string::npos) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill();
  return Status::Unavailable("postgres did not come up on port " + std::to_string(port_));
}

Status PgCluster::Stop() {
  if (!running()) return Status::Ok();
  kill(pid_, SIGINT);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::Ok();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Kill();
  return Status::Internal("postgres ignored a fast shutdown; killed");
}

Status PgCluster::Kill() {
  if (!running()) return Status::Ok();
  // The whole server, as a machine crash would take it: a backend outliving the
  // postmaster for a moment would still answer its client's next query.
  std::vector<pid_t> backends;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    const size_t paren = line.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(line.substr(paren + 1));
    std::string state;
    pid_t parent = 0;
    rest >> state >> parent;
    if (parent == pid_) backends.push_back(static_cast<pid_t>(std::stol(entry.path().filename())));
  }
  kill(pid_, SIGKILL);
  for (pid_t backend : backends) kill(backend, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  return Status::Ok();
}

Status PgCluster::CreateDatabase(const std::string& name) {
  const CommandResult r = RunCommand({BinDir() + "/createdb", "-h", "127.0.0.1", "-p",
                                      std::to_string(port_), "-U", kUser, name});
  if (r.exit_code != 0) return Status::Internal("createdb " + name + " failed: " + r.err);
  return Status::Ok();
}

}  // namespace concierge::testing
