// Shared test helpers: where the face data and the binary are, how to skip
// loudly when the data set is absent, and how to run the CLI.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/status.h"

namespace concierge::testing {

// CONCIERGE_TEST_DATA, defaulting to ../shared/data beside the source tree.
std::string TestDataDir();

// True when TestDataDir() holds the face data set.
bool HaveTestData();

// Path of a file inside the data set.
std::string DataPath(const std::string& relative);

// Path of the built `concierge` binary.
std::string BinaryPath();

// A fresh empty directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Reads a whole file ("" when it cannot be read).
std::string ReadFile(const std::string& path);

// A 127.0.0.1 TCP port the kernel just handed out; free unless someone takes it
// meanwhile, so servers started on it retry on a collision.
int FreePort();

// Starts a server by start_once() on `port`: with `port` 0, on a fresh
// FreePort() each try (5; it may be taken before the server binds it), else
// on that port again (50 tries; it, or a killed server's shared memory, may
// linger briefly), 200 ms apart. The last try's status.
Status StartOnAPort(int& port, const std::function<Status()>& start_once);

// Exit code plus captured stdout and stderr of a finished command.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// In a forked child before exec: sets the extra `env` entries ("NAME=value")
// after making HTTP servers bind port 0 unless told otherwise, since a test
// must never take a fixed port (another may hold 8080); they log the bound one.
void ApplyChildEnvironment(const std::vector<std::string>& env);

// Runs `args` (argv[0] first) without a shell, with extra `env` entries
// ("NAME=value"), in `cwd` when given, and captures its output.
CommandResult RunCommand(const std::vector<std::string>& args,
                         const std::vector<std::string>& env = {}, const std::string& cwd = "");

// The Status of a Status or a Result, for ASSERT_OK.
inline Status StatusOf(const Status& s) { return s; }
template <typename T>
Status StatusOf(const Result<T>& r) {
  return r.status();
}

// Polls `done` until it holds (true) or `limit` passes (false).
template <typename Pred>
bool Eventually(Pred done, std::chrono::milliseconds limit = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace concierge::testing

// Skips the current test with a loud message when the data set is absent.
#define REQUIRE_TEST_DATA()                                                          \
  do {                                                                               \
    if (!::concierge::testing::HaveTestData())                                       \
      GTEST_SKIP() << "\n*** FACE DATA MISSING: set CONCIERGE_TEST_DATA (looked in " \
                   << ::concierge::testing::TestDataDir() << ") ***";                \
  } while (0)

// Asserts that a Status or Result is OK, naming the expression and the error.
#define ASSERT_OK(expr)                                                  \
  do {                                                                   \
    const ::concierge::Status _s = ::concierge::testing::StatusOf(expr); \
    ASSERT_TRUE(_s.ok()) << #expr ": " << _s.ToString();                 \
  } while (0)
