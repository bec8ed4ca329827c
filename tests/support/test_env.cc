#include "support/test_env.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

namespace concierge::testing {

namespace fs = std::filesystem;

std::string TestDataDir() {
  if (const char* env = std::getenv("CONCIERGE_TEST_DATA"); env && *env) return env;
  return (fs::path(CONCIERGE_SOURCE_DIR) / ".." / "shared" / "data").lexically_normal().string();
}

bool HaveTestData() { return fs::exists(fs::path(TestDataDir()) / "lfw" / "pairs.txt"); }

std::string DataPath(const std::string& relative) {
  return (fs::path(TestDataDir()) / relative).string();
}

std::string BinaryPath() { return CONCIERGE_BINARY; }

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "concierge-test-XXXXXX").string();
  path_ = mkdtemp(tmpl.data());
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(path_, ec);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

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

Status StartOnAPort(int& port, const std::function<Status()>& start_once) {
  const bool fixed_port = port != 0;
  Status st;
  for (int attempt = 0; attempt < (fixed_port ? 50 : 5); ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (!fixed_port) port = FreePort();
    st = start_once();
    if (st.ok()) return st;
  }
  return st;
}

namespace {
std::string Drain(int fd) {
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}
}  // namespace

void ApplyChildEnvironment(const std::vector<std::string>& env) {
  setenv("CONCIERGE_HTTP_PORT", "0", /*overwrite=*/0);
  for (const auto& kv : env) putenv(const_cast<char*>(kv.c_str()));
}

CommandResult RunCommand(const std::vector<std::string>& args, const std::vector<std::string>& env,
                         const std::string& cwd) {
  int out_pipe[2], err_pipe[2];
  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0) return {};
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    close(out_pipe[0]);
    close(err_pipe[0]);
    const int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    ApplyChildEnvironment(env);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(127);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  CommandResult result;
  std::thread err_reader([&] { result.err = Drain(err_pipe[0]); });
  result.out = Drain(out_pipe[0]);
  err_reader.join();
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace concierge::testing
