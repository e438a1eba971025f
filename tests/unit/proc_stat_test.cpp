// The one /proc/PID/stat parser on what the kernel writes: real processes in the states
// goscry tells apart (running, stopped, zombie, reaped), one whose comm is made to look
// like more fields, and the start time against /proc/uptime.
#include "symbolizer/proc_stat.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

namespace goscry {
namespace {

// Polls until `pid`'s state is `want` (the kernel changes it asynchronously after a signal).
bool state_becomes(pid_t pid, char want) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until) {
    auto s = read_proc_stat(pid);
    if (s && s->state == want) return true;
    std::this_thread::yield();
  }
  return false;
}

TEST(ProcStat, ParsesPastAHostileComm) {
  auto s = parse_proc_stat("42 (a) Z 9 (b) S 1 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 777 9\n");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->state, 'S');
  EXPECT_EQ(s->start_ticks, 777u);
  EXPECT_FALSE(parse_proc_stat("no parenthesis at all"));
  EXPECT_FALSE(parse_proc_stat("42 (comm)"));
  auto short_line = parse_proc_stat("42 (comm) R 1");
  ASSERT_TRUE(short_line);
  EXPECT_EQ(short_line->start_ticks, 0u);
}

TEST(ProcStat, ReadsTheStatesOfARealChild) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // A comm that looks like the end of the fields: ") Z 1 (" is 7 bytes, under 16.
    prctl(PR_SET_NAME, ") Z 1 (", 0, 0, 0);
    (void)!write(ready[1], "x", 1);
    for (;;) pause();
  }
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  close(ready[1]);
  EXPECT_TRUE(state_becomes(child, 'S'));
  EXPECT_TRUE(process_alive(child));

  auto self = read_proc_stat(getpid());
  auto s = read_proc_stat(child);
  ASSERT_TRUE(self && s);
  EXPECT_GE(s->start_ticks, self->start_ticks);  // started after us
  double uptime = 0;
  std::ifstream("/proc/uptime") >> uptime;
  EXPECT_LE(double(s->start_ticks) / double(sysconf(_SC_CLK_TCK)), uptime + 1);

  kill(child, SIGSTOP);
  EXPECT_TRUE(state_becomes(child, 'T'));
  EXPECT_TRUE(process_alive(child));
  kill(child, SIGKILL);
  EXPECT_TRUE(state_becomes(child, 'Z'));
  EXPECT_FALSE(process_alive(child));  // a zombie runs no code
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  EXPECT_FALSE(read_proc_stat(child));
  EXPECT_FALSE(process_alive(child));
}

TEST(ProcStat, ReadsAThreadOfItsOwn) {
  auto s = read_proc_stat(getpid(), gettid());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->state, 'R');  // it is running: it is reading its own stat
  EXPECT_FALSE(read_proc_stat(getpid(), 0x3fffffff));
}

}  // namespace
}  // namespace goscry
