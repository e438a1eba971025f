// `dump --pause` holds the target in ptrace stops, which the kernel undoes when goscry dies:
// SIGKILL goscry at 20 random moments of a --pause dump of a 100,000-goroutine target
// (the waker fixture: 20 goroutines always working, 100,000 parked) — every time, no
// thread of the target may stay stopped, and it must go on using CPU (its own work, the
// oracle that it runs).
#include <gtest/gtest.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "agent/proc/target_pause.h"
#include "tests/support/fixtures.h"
#include "tests/support/live_process.h"

namespace goscry {
namespace {

using Clock = std::chrono::steady_clock;
using testing::all_fixtures;
using testing::LiveProcess;

// Threads of pid in a stop ('T' or 't').
int stopped_threads(pid_t pid) {
  int n = 0;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (!d) return 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const char s = process_state(pid, pid_t(std::atoi(e->d_name)));
    n += s == 'T' || s == 't';
  }
  closedir(d);
  return n;
}

// utime + stime of pid, in clock ticks.
long cpu_ticks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  std::size_t p = line.rfind(')');
  std::istringstream rest(line.substr(p + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; rest >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) {
      stime = std::stol(field);
      break;
    }
  }
  return utime + stime;
}

pid_t start_dump(pid_t target) {
  const std::string bin = testing::goscry_binary(), pid_arg = std::to_string(target);
  pid_t child = fork();
  if (child == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(bin.c_str(), bin.c_str(), "dump", "--pause", "--pid", pid_arg.c_str(), nullptr);
    _exit(127);
  }
  return child;
}

TEST(PauseSigkill, TargetRunsOnAfterGoscryIsKilledMidPause) {
  const auto fixture = testing::newest_fixture("waker");  // one toolchain is enough here
  ASSERT_TRUE(fixture) << "no waker fixture was built";
  auto proc = LiveProcess::start({fixture->path, "-parked", "100000"}, "ready",
                                 std::chrono::seconds(60));
  ASSERT_TRUE(proc) << proc.error().message;
  const pid_t target = (*proc)->pid();
  // How long one whole --pause dump takes: the kills land anywhere within it.
  auto t0 = Clock::now();
  int status = 0;
  waitpid(start_dump(target), &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a --pause dump failed";
  const auto whole = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
  std::mt19937 rng(13);
  std::uniform_int_distribution<long> when(0, whole.count());
  int caught_stopped = 0;
  for (int i = 0; i < 20; ++i) {
    SCOPED_TRACE("kill " + std::to_string(i));
    const pid_t dumper = start_dump(target);
    ASSERT_GT(dumper, 0);
    const auto at = Clock::now() + std::chrono::microseconds(when(rng));
    while (Clock::now() < at) std::this_thread::yield();  // a busy wait: exact moments
    caught_stopped += stopped_threads(target) > 0;
    kill(dumper, SIGKILL);
    waitpid(dumper, &status, 0);
    // The kernel detaches the tracees of a dying tracer as it exits: by the time waitpid
    // returns, no thread should be held; allow the scheduler a moment to run them.
    const auto until = Clock::now() + std::chrono::seconds(2);
    while (stopped_threads(target) > 0 && Clock::now() < until) std::this_thread::yield();
    EXPECT_EQ(stopped_threads(target), 0) << "goscry's death left threads of the target stopped";
    const long cpu0 = cpu_ticks(target);
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (cpu_ticks(target) <= cpu0 + 2 && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // poll the target's CPU time
    EXPECT_GT(cpu_ticks(target), cpu0 + 2) << "the target does not run after goscry died";
  }
  std::printf("%s: one --pause dump %.1f ms; 20 SIGKILLs, %d while threads were stopped\n",
              fixture->label().c_str(), double(whole.count()) / 1000, caught_stopped);
  EXPECT_GT(caught_stopped, 0) << "no kill landed during the pause";
}

}  // namespace
}  // namespace goscry
