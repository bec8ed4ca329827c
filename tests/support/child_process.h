// The one way tests start a long-running process (`concierge serve`, `concierge
// edge`, mosquitto, PostgreSQL, s3rver): start it, watch its log, signal it, wait
// for it. RunCommand (test_env.h) is for commands that finish on their own.
#pragma once

#include <pwd.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace concierge::testing {

struct ChildOptions {
  std::vector<std::string> env;  // extra "NAME=value" entries
  std::string cwd;               // where it starts; "" = the test's folder
  const passwd* user = nullptr;  // run as this account (needs root); nullptr = as the test
};

class ChildProcess {
 public:
  enum class Readiness { kReady, kExited, kTimedOut };

  ChildProcess() = default;
  ~ChildProcess();  // SIGKILLs and reaps the child if it still runs
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Needs argv[0] to be an executable path and no child running. Starts `args`
  // without a shell, stdin from /dev/null, stdout and stderr appended to
  // `log_path`. The child dies with the test process. False if fork fails.
  bool Start(const std::vector<std::string>& args, const std::string& log_path,
             const ChildOptions& options);
  bool Start(const std::vector<std::string>& args, const std::vector<std::string>& env,
             const std::string& log_path) {
    return Start(args, log_path, ChildOptions{env});
  }
  // Sends `sig` to the child if it runs.
  void Signal(int sig);
  // Waits up to `timeout` for the child to exit: its exit code (128 + signal
  // when killed), or -1 if it is still running.
  int Wait(std::chrono::milliseconds timeout);
  // Sends `sig` and waits up to `grace` for the exit; then SIGKILL. True when
  // it exited within `grace` (or was not running).
  bool Stop(int sig, std::chrono::milliseconds grace);
  // SIGKILL (a paused child dies without running again) and reap.
  void Kill();
  // Polls `ready` until it holds, the child exits (and `ready` still fails), or
  // `timeout` passes.
  Readiness WaitUntil(const std::function<bool()>& ready, std::chrono::milliseconds timeout);
  // Waits until the log, from byte `from` on, contains `needle`; false on
  // timeout or if the child exits first.
  bool WaitForLog(const std::string& needle, std::chrono::milliseconds timeout, size_t from = 0);
  // The whole log so far.
  std::string Log() const;
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::string log_path_;
};

}  // namespace concierge::testing
