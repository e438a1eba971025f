// The command line as a careless user types it: a pid of 0 or in hex, a verb that does not
// exist, a zombie's or a kernel thread's pid, binary bytes on stdin, a leak watch too short
// to see a leak, a target that dies during the watch. Each gets one short sentence naming
// the cause and an error status, never a 300-digit range, raw bytes, or "0 suspected leaks".
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/support/fixtures.h"
#include "tests/support/processes.h"

namespace goscry::testing {
namespace {

using namespace std::chrono_literals;

CommandResult goscry(std::vector<std::string> args, const std::string& input = "") {
  args.insert(args.begin(), {"timeout", "60", goscry_binary()});
  return run_command(args, input);
}

// The /proc/PID/stat state letter, 0 when gone.
char state_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), {});
  auto close = s.rfind(')');
  return close == std::string::npos || close + 2 >= s.size() ? 0 : s[close + 2];
}

TEST(CarelessCli, BadPidsAreRefusedInOneShortSentence) {
  for (const char* bad : {"0", "0x10", "99999999999999999999", "12abc"}) {
    auto r = goscry({"dump", "--pid", bad});
    EXPECT_NE(r.exit_code, 0) << bad;
    EXPECT_NE(r.err.find(std::string("\"") + bad +
                         "\" is not a process id (a positive decimal number)"),
              std::string::npos)
        << bad << ": " << r.err;
    EXPECT_LT(r.err.size(), 300u) << r.err;
  }
}

TEST(CarelessCli, AnUnknownVerbIsNamed) {
  auto r = goscry({"bogus"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("goscry: no verb \"bogus\"; the verbs are info, symbolize, dump", 0), 0u)
      << r.err;
}

TEST(CarelessCli, ZombiesAndKernelThreadsAreCalledWhatTheyAre) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  ASSERT_TRUE(poll_until([&] { return state_of(child) == 'Z'; }, 10s));
  auto zombie = goscry({"dump", "--pid", std::to_string(child)});
  EXPECT_NE(zombie.exit_code, 0);
  EXPECT_NE(zombie.err.find("pid " + std::to_string(child) +
                            " has exited (a zombie its parent has not reaped yet)"),
            std::string::npos)
      << zombie.err;
  waitpid(child, nullptr, 0);

  // kthreadd: the kernel's thread of threads (comm and parent 0 say so, independently of
  // the flags goscry reads).
  std::ifstream comm("/proc/2/comm");
  std::string name;
  std::getline(comm, name);
  ASSERT_EQ(name, "kthreadd") << "pid 2 is not kthreadd in this pid namespace";
  auto kthread = goscry({"dump", "--pid", "2"});
  EXPECT_NE(kthread.exit_code, 0);
  EXPECT_NE(kthread.err.find("pid 2 is a kernel thread, not a program"), std::string::npos)
      << kthread.err;
}

TEST(CarelessCli, BinaryOnStdinIsNotEchoedRaw) {
  std::string junk = std::string("\x00\x01\x1b[2J\xff", 7) + "zz";
  auto r = goscry({"symbolize", "--exe", hello_fixture(), "-"}, junk);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("not a hexadecimal address: \"\\x00\\x01\\x1b[2J\\xffzz\""),
            std::string::npos)
      << r.err;
  for (char c : r.err)
    EXPECT_TRUE(c == '\n' || (c >= 0x20 && c < 0x7f)) << "raw byte " << int(c) << " echoed";
}

TEST(CarelessCli, ALeakWatchTooShortToSeeALeakIsRefused) {
  HeldProcess target({hello_fixture(), "wait"});
  auto r = goscry({"leaks", "--pid", std::to_string(target.pid()), "-d", "5s", "--no-bpf"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("-d 5s is too short: a leak is reported after 15 s of history, so watch "
                       "at least 16s at --interval 1s"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.out.find("0 suspected leaks"), std::string::npos) << r.out;
}

// The target dies two seconds into a 20 s watch: the watch decided nothing about the rest,
// so the status is 5 (the target exited, README.md "Exit status"), not 0 ("no leak").
TEST(CarelessCli, ALeakWatchCutShortByAReadErrorIsAFailureNotNoLeak) {
  auto target = std::make_unique<HeldProcess>(std::vector<std::string>{hello_fixture(), "wait"});
  const std::string out =
      (std::filesystem::temp_directory_path() / ("goscry-leaks-" + std::to_string(getpid())))
          .string();
  int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  pid_t verb = start_program({goscry_binary(), "leaks", "--pid", std::to_string(target->pid()),
                              "-d", "20s", "--no-bpf"},
                             -1, fd, fd, {}, true);
  ::close(fd);
  ASSERT_GT(verb, 0);
  auto said = [&] {
    std::ifstream in(out);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  };
  ASSERT_TRUE(poll_until([&] { return said().find("watching pid") != std::string::npos; }, 15s))
      << said();
  target->kill_and_wait();
  int status = 0;
  ASSERT_EQ(waitpid(verb, &status, 0), verb);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 5) << said();
  EXPECT_NE(said().find("stopped early"), std::string::npos) << said();
  std::filesystem::remove(out);
}

}  // namespace
}  // namespace goscry::testing
