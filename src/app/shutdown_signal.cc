#include "app/shutdown_signal.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

namespace concierge {

namespace {

sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

const char* Name(int sig) { return sig == SIGINT ? "SIGINT" : "SIGTERM"; }

}  // namespace

void ShutdownSignal::Block() {
  const sigset_t set = StopSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

ShutdownSignal::ShutdownSignal(std::string repeat_means, std::function<void()> on_repeat)
    : repeat_means_(std::move(repeat_means)),
      on_repeat_(std::move(on_repeat)),
      watcher_([this] { Watch(); }) {}

ShutdownSignal::~ShutdownSignal() {
  finished_ = true;
  watcher_.join();
}

bool ShutdownSignal::Notify(const std::string& why) {
  {
    std::lock_guard lock(mu_);
    if (done_) return false;
    done_ = true;
  }
  if (!why.empty()) spdlog::info("shutting down: {}", why);
  cv_.notify_all();
  return true;
}

void ShutdownSignal::Wait() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return done_; });
}

void ShutdownSignal::Watch() {
  const sigset_t set = StopSignals();
  const timespec tick{0, 100'000'000};
  int seen = 0;
  while (!finished_) {
    const int sig = sigtimedwait(&set, nullptr, &tick);
    if (sig <= 0) continue;
    if (seen++ == 0) {
      Notify(std::string(Name(sig)) + " (again to " + repeat_means_ + ")");
    } else if (on_repeat_) {
      spdlog::warn("second {}: {}", Name(sig), repeat_means_);
      on_repeat_();
    }
  }
}

void RestartRequest::Request() {
  if (requested_.exchange(true)) return;
  spdlog::info("restart requested: stopping, then starting again");
  ::kill(::getpid(), SIGTERM);
}

Status StartAgain() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string cmdline{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (cmdline.empty()) return Status::Internal("cannot read /proc/self/cmdline to start again");
  std::vector<std::string> args;
  for (size_t start = 0; start < cmdline.size();) {
    const size_t end = cmdline.find('\0', start);
    args.push_back(cmdline.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  spdlog::info("starting again: {}", args.front());
  spdlog::default_logger()->flush();
  std::fflush(nullptr);
  // The new image keeps this thread's signal mask; it blocks SIGINT and SIGTERM again anyway.
  ::execv("/proc/self/exe", argv.data());
  return Status::Internal(std::string("cannot start again: ") + std::strerror(errno));
}

}  // namespace concierge
