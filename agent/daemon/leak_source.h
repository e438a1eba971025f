// Goroutine leak detection in the agent: a LeakDetector per target (agent/leaks/leak_detector.h,
// the same as `goscry leaks`) fed by periodic memory snapshots of every goroutine, with the
// BPF per-site counters when the probes are on the target. As a TargetSource it exports
// goscry_goroutine_leak_suspects; the HTTP routes (agent/daemon/goroutine_routes.h) read the
// detectors and the targets' memory through it.
//
// Cost, bounded on purpose: one thread takes the snapshots, one target at a time, each
// target at most every `interval` (1 s, the leaks verb's default) when it is traced (named
// by --pid, `targets` or a `trace:` selector), every `watch_interval` (10 s) when it is only
// watched (found by --all): a node's 100 idle processes then cost a snapshot a second in
// all, and a snapshot of an unchanged target decodes nothing again (goroutine_memo.h).
// After a snapshot that took d, the thread rests at least d x (1/max_duty - 1) before the
// next one, so reading goroutines uses at most max_duty (5 %) of one core whatever the
// number and size of the targets: with many or large targets each one is simply read less
// often. Memory: the detector's groups, plus the goroutines of the current suspects (for
// the goroutineleak profile) — not the whole last snapshot.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "agent/base/periodic_worker.h"
#include "agent/daemon/duty_cycle.h"
#include "agent/daemon/target_source.h"
#include "agent/daemon/watched_targets.h"
#include "agent/goruntime/go_process.h"
#include "agent/goruntime/goroutine_memo.h"
#include "agent/leaks/leak_detector.h"
#include "agent/probes/attacher.h"

namespace goscry {

struct LeakWatchOptions {
  std::chrono::milliseconds interval{1000};         // traced targets
  std::chrono::milliseconds watch_interval{10000};  // watched ones
  // No snapshot of a target younger than this (for the agent): a leak needs 15 s of
  // history to be reported anyway, and targets that come and go in seconds (jobs, CLI
  // tools under --all) are then never opened.
  std::chrono::milliseconds first_after{5000};
  // Targets with more goroutines are left out after one read (logged): memory stays
  // bounded (~1 KB per goroutine while a snapshot is symbolized).
  std::size_t max_goroutines = 20000;
  double max_duty = 0.05;
  LeakDetectorOptions detector;
};

class LeakSource : public TargetSource {
 public:
  // BPF per-site counters of a pid (nothing when no probes are on it) and their status.
  using SiteCounters =
      std::function<std::optional<std::unordered_map<std::uint64_t, SiteCounter>>(pid_t)>;
  using BpfStatus = std::function<std::string(pid_t)>;

  LeakSource(LeakWatchOptions options, SiteCounters sites, BpfStatus status);
  ~LeakSource() override;
  LeakSource(const LeakSource&) = delete;
  LeakSource& operator=(const LeakSource&) = delete;

  std::string_view name() const override { return "leaks"; }
  // Snapshots at its tier's interval (TargetInfo::tier).
  Result<void> attach(const TargetInfo& target) override;
  void detach(const TargetInfo& target) override;
  void read(const TargetInfo& target, TargetFigures& figures) override;
  // Gives up the snapshots of the target with the most goroutines at its last read (its
  // detector, views and lookups are freed by the snapshot thread at once); its report
  // then says why it has no leak figures.
  std::optional<pid_t> shed_one_target() override;

  // For the routes. Errors: "pid 42 is not a target of this agent" (is_unknown() true).
  bool tracks(pid_t pid) const;
  // /debug/pprof/goroutine: a fresh read of the target's goroutines (goroutine_formats.h).
  Result<GoroutineAnswer> goroutine_profile(pid_t pid, int debug);
  // /debug/pprof/goroutineleak: the goroutines of the current suspects, as last read.
  Result<GoroutineAnswer> leak_profile(pid_t pid, int debug);
  // /api/v1/leaks: the "leaks" report of one target, or of each (an array).
  std::optional<nlohmann::ordered_json> leaks_report(pid_t pid);
  nlohmann::ordered_json leaks_reports();

 private:
  struct Watched {
    std::mutex mu;  // the process handle, the detector and the views
    TargetInfo info;
    // The target's shared handle (target_process.h), held from the first snapshot.
    std::shared_ptr<const GoProcess> process;
    // Its reads' lookups kept from one snapshot to the next (after `process`: it borrows it).
    std::optional<GoroutineMemo> memo;
    LeakDetector detector;
    std::vector<GoroutineView> suspect_views;
    std::int64_t started_ns = 0;
    std::int64_t last_ns = 0;
    std::chrono::steady_clock::time_point due;
    std::chrono::milliseconds interval{0};  // by its tier
    bool gone = false;
    std::string off;                          // why snapshots were given up (w.mu)
    std::atomic<bool> shed{false};            // given up for the memory budget
    std::atomic<std::size_t> goroutines{0};  // at the last read
    // What read() copies, under a lock of its own: a scrape never waits for a snapshot.
    std::mutex figures_mu;
    std::optional<std::vector<prometheus::Ranked>> by_site;  // suspects, per creation site
    // Live user goroutines per creation site at the last read: the watch tier's
    // goroutines_by_site (the trace tier's come from the probes, which read() leaves be).
    std::optional<std::vector<prometheus::Ranked>> live_by_site;
  };
  std::shared_ptr<Watched> find(pid_t pid) const;
  // find() for a route: an unknown pid is a NotFound error, in the routes' words.
  Result<std::shared_ptr<Watched>> route_target(pid_t pid) const;
  // The worker's job: a snapshot of the target due first, if it is due; returns when the
  // next one is.
  std::chrono::steady_clock::time_point snapshot_due();
  std::shared_ptr<Watched> due_first() const;
  void snapshot(Watched& w);
  void give_up(Watched& w, std::string why);
  static nlohmann::ordered_json report(Watched& w, const std::string& bpf);

  LeakWatchOptions options_;
  SiteCounters sites_;
  BpfStatus status_;
  mutable std::mutex mu_;  // targets_
  std::map<pid_t, std::shared_ptr<Watched>> targets_;
  DutyCycle duty_;  // the worker's
  // Last: it stops (in the destructor) before anything its job uses goes.
  PeriodicWorker worker_;
};

}  // namespace goscry
