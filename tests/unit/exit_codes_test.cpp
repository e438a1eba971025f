// One exit-status table for every verb (README.md "Exit status", agent/base/exit_codes.h):
// a wrong command line is 2 whatever the verb, a target that is not there 5, a process that
// is not Go 6, a target goscry may not read 4.
#include "agent/base/exit_codes.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/support/fixtures.h"
#include "tests/support/live_process.h"

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

TEST(ExitCodes, ATargetThatIsNotThereIsNoTargetForEveryVerb) {
  const std::string pid = vanished_pid();
  for (const char* verb :
       {"info", "dump", "heap", "block", "mutex", "top", "gc", "leaks", "record"}) {
    SCOPED_TRACE(verb);
    EXPECT_EQ(goscry({verb, "--pid", pid}), kExitNoTarget);
  }
  EXPECT_EQ(goscry({"symbolize", "--pid", pid, "0x1000"}), kExitNoTarget);
}

// `record` is left out: it records any process, Go or not (README.md).
TEST(ExitCodes, AProcessThatIsNotGoIsUnsupportedForEveryVerb) {
  auto sleeper = testing::LiveProcess::start({"sh", "-c", "echo ready; exec sleep 600"});
  ASSERT_TRUE(sleeper) << sleeper.error().message;
  const std::string pid = std::to_string((*sleeper)->pid());
  for (const char* verb : {"info", "dump", "heap", "block", "mutex", "top", "gc", "leaks"}) {
    SCOPED_TRACE(verb);
    EXPECT_EQ(goscry({verb, "--pid", pid}), kExitUnsupported);
  }
  EXPECT_EQ(goscry({"symbolize", "--pid", pid, "0x1000"}), kExitUnsupported);
  EXPECT_EQ(goscry({"info", "--exe", "/bin/sh"}), kExitUnsupported);
}

// As nobody, a root-owned target is refused by the kernel before anything is read; the
// BPF verbs name the capabilities they lack, the others the file they could not read.
TEST(ExitCodes, ATargetGoscryMayNotReadIsNotPermittedForEveryVerb) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to drop to nobody";
  auto sleeper = testing::LiveProcess::start({"sh", "-c", "echo ready; exec sleep 600"});
  ASSERT_TRUE(sleeper) << sleeper.error().message;
  const std::string pid = std::to_string((*sleeper)->pid());
  const std::vector<std::string> nobody = {"setpriv",         "--reuid=65534",
                                           "--regid=65534",   "--clear-groups",
                                           "--inh-caps=-all", "--bounding-set=-all"};
  for (const char* verb :
       {"info", "dump", "heap", "block", "mutex", "top", "gc", "leaks", "record"}) {
    SCOPED_TRACE(verb);
    auto args = nobody;
    args.insert(args.end(), {testing::goscry_binary(), verb, "--pid", pid});
    // record checks its output path first: one nobody may write.
    if (std::string(verb) == "record")
      args.insert(args.end(), {"-o", "/tmp/goscry-exit-codes-" + pid + ".pb.gz"});
    auto r = run_command(args);
    EXPECT_EQ(r.exit_code, kExitNotPermitted) << r.err;
  }
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
      {"heap", "--pid", pid, "--enable-sampling=0"},
      {"block", "--pid", pid, "--format=svg"},
      {"mutex", "--pid", pid, "--enable-sampling=0"},
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
