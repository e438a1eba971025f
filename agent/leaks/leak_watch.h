// One Go process watched for leaks for a while, as `goscry leaks` does it: its goroutines
// read every interval and fed, with the BPF per-site counters when there are any, to a
// LeakDetector (leak_detector.h); each new suspect handed to the caller as it appears. The
// agent's leak source (daemon/leak_source) reads its targets on its own schedule instead.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>
#include <vector>

#include "agent/goruntime/go_process.h"
#include "agent/goruntime/goroutine_stacks.h"
#include "agent/leaks/leak_detector.h"

namespace goscry {

struct LeakWatchSettings {
  std::chrono::nanoseconds duration{0};
  std::chrono::nanoseconds interval{0};
};

// The shortest watch that can report a leak at `interval`: a suspect needs
// min_span_seconds of history, so a shorter one could only ever say "no leak" (it said so
// on a target leaking 1,200/min).
std::chrono::nanoseconds shortest_leak_watch(std::chrono::nanoseconds interval);

// The BPF created/exited counters per creation site (run-time gopc) now, or nothing.
using SiteCountsNow =
    std::function<std::optional<std::unordered_map<std::uint64_t, SiteCounter>>()>;

struct LeakWatch {
  LeakDetector detector;
  std::vector<GoroutineView> last_views;  // the last read, for the goroutineleak profile
  double watched_seconds = 0;
  std::optional<Error> ended_by;  // a read that failed (the target exited) ended the watch
};

// Watches for `settings.duration`, less when `stop` says so or a read fails.
LeakWatch watch_for_leaks(const GoProcess& t, const LeakWatchSettings& settings,
                          const SiteCountsNow& sites,
                          const std::function<void(const LeakSuspect&)>& on_suspect,
                          const std::function<bool()>& stop);

}  // namespace goscry
