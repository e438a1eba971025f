// One exit-status table for every verb (README.md "Exit status", agent/base/exit_codes.h):
// a wrong command line is 2 whatever the verb, a target that is not there is 1.
#include "agent/base/exit_codes.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/support/fixtures.h"

namespace goscry {
namespace {

using testing::run_command;

// A pid no process has: a child that has exited and been reaped.
std::string vanished_pid() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  return std::to_string(pid);
}

int goscry(std::vector<std::string> args) {
  args.insert(args.begin(), testing::goscry_binary());
  auto r = run_command(args);
  EXPECT_FALSE(r.err.empty()) << "an exit status without a sentence saying why";
  return r.exit_code;
}

TEST(ExitCodes, ATargetThatIsNotThereIsOneForEveryVerb) {
  const std::string pid = vanished_pid();
  for (const char* verb : {"info", "dump", "heap", "top", "gc", "leaks", "record"}) {
    SCOPED_TRACE(verb);
    EXPECT_EQ(goscry({verb, "--pid", pid}), kExitFailed);
  }
  EXPECT_EQ(goscry({"symbolize", "--pid", pid, "0x1000"}), kExitFailed);
}

TEST(ExitCodes, BadInputIsTwoForEveryVerb) {
  const std::string pid = vanished_pid();
  const std::vector<std::vector<std::string>> cases = {
      {"top"},  // --pid is required
      {"top", "--pid", pid, "--interval=0"},
      {"gc", "--pid", pid, "--duration=-1s"},
      {"leaks", "--pid", pid, "--duration=1.5x"},
      {"record", "--pid", pid, "--duration=0"},
      {"record", "--pid", pid, "--hz=0"},
      {"dump", "--pid", pid, "--format=xml"},
      {"heap", "--pid", pid, "--format=svg"},
      {"heap", "--pid", pid, "--seconds=0"},
      {"info", "--pid", pid, "--exe", "/bin/true"},
      {"symbolize", "--pid", pid, "not-an-address"},
      {"agent", "--config", "/nonexistent/goscry.yml", "--listen", "127.0.0.1:0"},
      {"no-such-verb"},
  };
  for (const auto& args : cases) {
    SCOPED_TRACE(args[0] + (args.size() > 1 ? " ... " + args.back() : ""));
    EXPECT_EQ(goscry(args), kExitBadInput);
  }
}

}  // namespace
}  // namespace goscry
