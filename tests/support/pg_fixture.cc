#include "support/pg_fixture.h"

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
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

// Where and as whom the server's programs run.
ChildOptions AsServerUser(const std::string& dir) {
  ChildOptions options;
  options.cwd = dir;
  options.user = ServerUser();
  return options;
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
    ChildProcess initdb;
    if (!initdb.Start({BinDir() + "/initdb", "-D", dir_.Sub("data"), "-U", kUser, "--auth=trust",
                       "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"},
                      dir_.Sub("initdb.log"), AsServerUser(dir_.path())))
      return Status::Internal("fork failed");
    if (initdb.Wait(std::chrono::minutes(5)) != 0)
      return Status::Internal("initdb failed: " + ReadFile(dir_.Sub("initdb.log")));
    initialised_ = true;
  }
  return StartOnAPort(port_, [this] { return StartOnce(); });
}

Status PgCluster::StartOnce() {
  const std::string log_path = dir_.Sub("postgres.log");
  const size_t log_start = ReadFile(log_path).size();
  if (!server_.Start({BinDir() + "/postgres", "-D", dir_.Sub("data"), "-p", std::to_string(port_),
                      "-k", dir_.path(), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                      "-c", "max_connections=40"},
                     log_path, AsServerUser(dir_.path())))
    return Status::Internal("fork failed");
  switch (server_.WaitUntil(
      [&] { return ReadFile(log_path).find(kReady, log_start) != std::string::npos; },
      std::chrono::seconds(60))) {
    case ChildProcess::Readiness::kReady:
      return Status::Ok();
    case ChildProcess::Readiness::kExited:
      return Status::Unavailable("postgres exited on port " + std::to_string(port_) + ": " +
                                 ReadFile(log_path).substr(log_start));
    case ChildProcess::Readiness::kTimedOut:
      break;
  }
  Kill();
  return Status::Unavailable("postgres did not come up on port " + std::to_string(port_));
}

Status PgCluster::Stop() {
  // Fast shutdown: sessions are ended, the server exits cleanly.
  if (server_.Stop(SIGINT, std::chrono::seconds(60))) return Status::Ok();
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
    if (parent == server_.pid())
      backends.push_back(static_cast<pid_t>(std::stol(entry.path().filename())));
  }
  server_.Signal(SIGKILL);
  for (pid_t backend : backends) kill(backend, SIGKILL);
  server_.Kill();  // reaps it
  return Status::Ok();
}

Status PgCluster::CreateDatabase(const std::string& name) {
  const CommandResult r = RunCommand({BinDir() + "/createdb", "-h", "127.0.0.1", "-p",
                                      std::to_string(port_), "-U", kUser, name});
  if (r.exit_code != 0) return Status::Internal("createdb " + name + " failed: " + r.err);
  return Status::Ok();
}

namespace {

PgCluster* shared_cluster = nullptr;
Status shared_cluster_status;

}  // namespace

PgCluster* SharedPgCluster() {
  if (shared_cluster == nullptr) {
    shared_cluster = new PgCluster();
    shared_cluster_status = shared_cluster->Start();
  }
  if (shared_cluster_status.ok()) return shared_cluster;
  ADD_FAILURE() << shared_cluster_status.ToString() << "\n" << shared_cluster->Log();
  return nullptr;
}

std::string NewSharedPgDatabase() {
  PgCluster* cluster = SharedPgCluster();
  if (cluster == nullptr) return "";
  static std::atomic<int> counter{0};
  const std::string name = "test_" + std::to_string(counter.fetch_add(1));
  const Status created = cluster->CreateDatabase(name);
  EXPECT_TRUE(created.ok()) << created.ToString();
  return created.ok() ? cluster->Url(name) : "";
}

void StopSharedPgCluster() {
  delete shared_cluster;
  shared_cluster = nullptr;
}

}  // namespace concierge::testing
