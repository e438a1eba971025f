#include "tests/support/live_process.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>

namespace goscry::testing {
namespace {

using namespace std::chrono_literals;

TEST(LiveProcess, WaitsForTheReadyLineAndExitsWhenStdinCloses) {
  // `cat` echoes what it is given and exits on EOF, like the "wait" fixtures.
  auto p = LiveProcess::start({"sh", "-c", "echo starting; echo ready; exec cat"}, "ready", 10s);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ((*p)->output(), "starting\nready\n");
  EXPECT_EQ(::kill((*p)->pid(), 0), 0);
  (*p)->close_stdin();
  auto status = (*p)->wait_exit(10s);
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_EQ(*status, 0);
}

TEST(LiveProcess, FailsFastWhenTheProgramExitsOrNeverGetsReady) {
  auto exited = LiveProcess::start({"sh", "-c", "echo oops; exit 3"}, "ready", 10s);
  ASSERT_FALSE(exited);
  EXPECT_EQ(exited.error().message, "sh: exited before printing \"ready\"; output: oops\n");

  auto t0 = std::chrono::steady_clock::now();
  auto slow = LiveProcess::start({"sleep", "60"}, "ready", 200ms);
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error().message, "sleep: timed out before printing \"ready\"; output: ");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

TEST(LiveProcess, KillsAndReapsOnDestruction) {
  pid_t pid = 0;
  {
    auto p = LiveProcess::start({"sh", "-c", "echo ready; exec sleep 60"}, "ready", 10s);
    ASSERT_TRUE(p) << p.error().message;
    pid = (*p)->pid();
  }
  // Reaped: the pid names no process (not even a zombie) any more.
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

}  // namespace
}  // namespace goscry::testing
