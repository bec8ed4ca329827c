// A long-running child process for tests (`concierge serve`, `concierge edge`):
// start it, watch its log, signal it, wait for it. RunCommand (test_env.h) is
// for commands that finish on their own.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace concierge::testing {

class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();  // SIGKILLs and reaps the child if it still runs
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Needs argv[0] to be an executable path. Starts `args` without a shell, with
  // extra `env` entries ("NAME=value"), stdout and stderr appended to
  // `log_path`. The child dies with the test process. False if fork fails.
  bool Start(const std::vector<std::string>& args, const std::vector<std::string>& env,
             const std::string& log_path);
  // Sends `sig` to the child if it runs.
  void Signal(int sig);
  // Waits up to `timeout` for the child to exit: its exit code (128 + signal
  // when killed), or -1 if it is still running.
  int Wait(std::chrono::milliseconds timeout);
  // Waits until the log, from byte `from` on, contains `needle`; false on
  // timeout or if the child exits first.
  bool WaitForLog(const std::string& needle, std::chrono::milliseconds timeout, size_t from = 0);
  // The whole log so far.
  std::string Log() const;
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::string log_path_;
};

}  // namespace concierge::testing
