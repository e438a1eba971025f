// The checks of the realworld suite that put a load on a server (tests/realworld/): `goscry
// gc`, `record`, `leaks` and the agent on a real server, each against the server's own
// answers over the same window (its /debug/pprof and, where it has one, its /metrics).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/realworld_server.h"

namespace goscry::testing {

// A load on a suite server: its load_step() in a loop on a thread of its own, at most one
// step every `pace` (zero: back to back), one at a time, until stop() or the end of the
// object.
class BoundedLoad {
 public:
  BoundedLoad(SuiteServer& server, std::chrono::milliseconds pace);
  ~BoundedLoad();
  BoundedLoad(const BoundedLoad&) = delete;
  BoundedLoad& operator=(const BoundedLoad&) = delete;
  void stop();
  long steps() const { return steps_; }
  long failed() const { return failed_; }

 private:
  void run(SuiteServer& server, std::chrono::milliseconds pace);
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::atomic<long> steps_{0}, failed_{0};
  std::thread thread_;
};

// The server's own account of its GC at one moment.
struct OwnGc {
  // /debug/pprof/heap?debug=1's runtime.MemStats: NumGC, and PauseNs (the stop-the-world
  // time of each of the last 256 cycles, cycle N at [(N-1) % 256]).
  std::uint64_t num_gc = 0;
  std::vector<std::uint64_t> pause_ns;
  // Its /metrics' go_gc_duration_seconds count and sum, when it has them.
  std::optional<std::uint64_t> metrics_count;
  std::optional<double> metrics_sum;
};
// Reads it; a test failure when the server does not answer.
OwnGc own_gc(const SuiteServer& server);

// Under the server's load, a step every `pace` (zero: back to back), for `window`: `goscry gc`
// against its own cycle count and the pause of every cycle (its /debug/pprof/heap?debug=1 MemStats,
// and its go_gc_duration_seconds where it has one); `goscry record` (199 Hz) against its own
// /debug/pprof/profile?seconds=N over the same window: the functions above 2 % of the flat
// samples are the same, their shares within 5 points. Prints the figures.
void expect_agrees_under_load(SuiteServer& server, std::chrono::seconds window,
                              std::chrono::milliseconds pace = std::chrono::milliseconds(0));

// `goscry agent --pid` on the server, as its users run it: /metrics passes `promtool check
// metrics`, and goscry_goroutines for the server equals its own count at a moment when that
// held still (its debug=2 less the goroutines serving it; its go_goroutines less the ones
// serving that, where their number is fixed).
void expect_agent_agrees(SuiteServer& server);

// `goscry leaks -d <watch>` on every server at once, each under a load paced at one step
// every `pace`: 0 suspects, exit status 0.
void expect_no_leaks_under_load(const std::vector<SuiteServer*>& servers,
                                std::chrono::seconds watch, std::chrono::milliseconds pace);

}  // namespace goscry::testing
