// The one periodic worker of the agent's sources (agent/base/periodic_worker.h): the job runs
// again and again at the time it asks for, at once on wake(), never twice at the same time,
// and stop() ends a long wait at once but lets a job in progress finish. Times are checked
// against the steady clock with bounds far from the expected values, so a loaded machine
// cannot fail them; what the tests wait for they poll for.
#include "agent/base/periodic_worker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

namespace goscry {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Polls `done` until it holds or a minute passed (a bound no healthy run comes near).
template <class F>
bool eventually(F done) {
  const auto end = Clock::now() + 60s;
  while (!done()) {
    if (Clock::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(PeriodicWorker, RunsTheJobAgainAndAgain) {
  std::atomic<int> runs{0};
  PeriodicWorker w("test-worker", 0s, PeriodicWorker::every(1ms, [&] { ++runs; }));
  w.start();
  EXPECT_TRUE(eventually([&] { return runs >= 5; }));
}

TEST(PeriodicWorker, DoesNotRunBeforeStart) {
  std::atomic<int> runs{0};
  {
    PeriodicWorker w("test-worker", 0s, PeriodicWorker::every(1ms, [&] { ++runs; }));
    w.wake();
  }
  EXPECT_EQ(runs, 0);
}

TEST(PeriodicWorker, StopEndsALongWaitAtOnce) {
  std::atomic<int> runs{0};
  PeriodicWorker w("test-worker", 1h, PeriodicWorker::every(1h, [&] { ++runs; }));
  w.start();
  const auto t0 = Clock::now();
  w.stop();
  // An hour's wait ended by the stop: anything under a minute proves it.
  EXPECT_LT(Clock::now() - t0, 60s);
  EXPECT_EQ(runs, 0);
}

TEST(PeriodicWorker, WakeRunsTheJobNow) {
  std::atomic<int> runs{0};
  PeriodicWorker w("test-worker", 1h, PeriodicWorker::every(1h, [&] { ++runs; }));
  w.start();
  w.wake();
  EXPECT_TRUE(eventually([&] { return runs == 1; }));
  w.wake();
  EXPECT_TRUE(eventually([&] { return runs == 2; }));
}

TEST(PeriodicWorker, TheJobChoosesItsNextRun) {
  std::atomic<int> runs{0};
  // Soon after the first run, then not for an hour: exactly two runs.
  PeriodicWorker w("test-worker", 0s,
                   [&] { return ++runs == 1 ? Clock::now() + 1ms : Clock::now() + 1h; });
  w.start();
  EXPECT_TRUE(eventually([&] { return runs == 2; }));
  std::this_thread::sleep_for(50ms);  // would a third come: it must not
  EXPECT_EQ(runs, 2);
}

TEST(PeriodicWorker, StopLetsAJobInProgressFinish) {
  std::atomic<bool> started{false}, finished{false}, release{false};
  PeriodicWorker w("test-worker", 0s, PeriodicWorker::every(1h, [&] {
                     started = true;
                     while (!release) std::this_thread::sleep_for(1ms);
                     finished = true;
                   }));
  w.start();
  ASSERT_TRUE(eventually([&] { return started.load(); }));
  std::thread releaser([&] {
    std::this_thread::sleep_for(20ms);
    release = true;
  });
  w.stop();
  EXPECT_TRUE(finished);  // stop() returned only after the job ended
  releaser.join();
}

TEST(PeriodicWorker, NeverRunsTheJobTwiceAtOnce) {
  std::atomic<int> inside{0}, most{0}, runs{0};
  PeriodicWorker w("test-worker", 0s, PeriodicWorker::every(0s, [&] {
                     const int n = ++inside;
                     most = std::max(most.load(), n);
                     std::this_thread::sleep_for(100us);
                     --inside;
                     ++runs;
                   }));
  w.start();
  for (int i = 0; i < 200; ++i) w.wake();
  EXPECT_TRUE(eventually([&] { return runs >= 50; }));
  w.stop();
  EXPECT_EQ(most, 1);
}

TEST(PeriodicWorker, StartAfterStopStartsNothing) {
  std::atomic<int> runs{0};
  PeriodicWorker w("test-worker", 0s, PeriodicWorker::every(1ms, [&] { ++runs; }));
  w.stop();
  w.start();
  std::this_thread::sleep_for(50ms);  // runs would come within 1 ms: none may
  EXPECT_EQ(runs, 0);
}

// The kernel's name of the job's thread, as `top -H` and the fleet bench's per-thread CPU
// read it; a name over the kernel's 15 bytes is cut, not refused (the thread would keep
// the agent's name).
TEST(PeriodicWorker, NamesItsThread) {
  std::mutex mu;
  std::string seen;
  PeriodicWorker w("goscry-a-long-name", 0s, PeriodicWorker::every(1h, [&] {
    std::ifstream comm("/proc/thread-self/comm");
    std::lock_guard lock(mu);
    std::getline(comm, seen);
  }));
  w.start();
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return !seen.empty();
  }));
  w.stop();
  EXPECT_EQ(seen, "goscry-a-long-n");
}

}  // namespace
}  // namespace goscry
