#include "support/child_process.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "support/test_env.h"

namespace concierge::testing {

ChildProcess::~ChildProcess() { Kill(); }

bool ChildProcess::Start(const std::vector<std::string>& args, const std::string& log_path,
                         const ChildOptions& options) {
  log_path_ = log_path;
  exit_code_ = -1;
  // Built before fork: the test has other threads, so the child may not allocate.
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    if (options.user && (setgroups(0, nullptr) != 0 || setgid(options.user->pw_gid) != 0 ||
                         setuid(options.user->pw_uid) != 0))
      _exit(126);
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test (after setuid, which clears it)
    const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(log, 1);
    dup2(log, 2);
    if (!options.cwd.empty() && chdir(options.cwd.c_str()) != 0) _exit(126);
    ApplyChildEnvironment(options.env);
    execv(argv[0], argv.data());
    _exit(127);
  }
  pid_ = pid;
  return true;
}

void ChildProcess::Signal(int sig) {
  if (running()) kill(pid_, sig);
}

int ChildProcess::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return exit_code_;
}

bool ChildProcess::Stop(int sig, std::chrono::milliseconds grace) {
  if (!running()) return true;
  Signal(sig);
  if (Wait(grace) != -1) return true;
  Kill();
  return false;
}

void ChildProcess::Kill() {
  if (!running()) return;
  // No SIGCONT first: SIGKILL ends a stopped process too, and a paused one
  // must not run again (a paused broker would send the acks a test withholds).
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  exit_code_ = 128 + SIGKILL;
}

ChildProcess::Readiness ChildProcess::WaitUntil(const std::function<bool()>& ready,
                                                std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (ready()) return Readiness::kReady;
    if (Wait(std::chrono::milliseconds(0)) != -1) return Readiness::kExited;
    if (std::chrono::steady_clock::now() >= deadline) return Readiness::kTimedOut;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string ChildProcess::Log() const { return ReadFile(log_path_); }

bool ChildProcess::WaitForLog(const std::string& needle, std::chrono::milliseconds timeout,
                              size_t from) {
  return WaitUntil([&] { return Log().find(needle, from) != std::string::npos; }, timeout) ==
         Readiness::kReady;
}

}  // namespace concierge::testing
