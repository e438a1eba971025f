// The BPF trackers as a TargetSource of the agent: per target a TargetWatch (the runtime
// probes, the attach-time snapshot of allgs, the goroutine and GC trackers; in the watch
// tier no per-goroutine probe and the live count read as NumGoroutine() does) on ONE
// BpfLoader shared by every target (per-tgid settings map). A poll thread drains the ring
// buffer every 200 ms and dispatches its events by tgid, reads the per-site counters once
// a second and turns all of it into TargetFigures, which read() only copies: a scrape
// never touches the kernel.
//
// A target that exits loses its probes at the next poll (its last figures stay readable
// until the agent detaches it after the grace period); the destructor (SIGTERM/SIGINT end
// the daemon, then this goes) removes every probe that is left.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/base/periodic_worker.h"
#include "agent/daemon/target_source.h"
#include "agent/leaks/leak_detector.h"
#include "agent/probes/target_watch.h"

namespace goscry {

class BpfTargetSource : public TargetSource {
 public:
  // Opens the loader. When it cannot (no privileges, no BTF), every attach fails with the
  // reason, so each target is logged and counted as an attach error and keeps its /proc
  // figures.
  BpfTargetSource();
  ~BpfTargetSource() override;
  BpfTargetSource(const BpfTargetSource&) = delete;
  BpfTargetSource& operator=(const BpfTargetSource&) = delete;

  std::string_view name() const override { return "bpf"; }
  // Probes in the target's tier (TargetInfo::tier).
  Result<void> attach(const TargetInfo& target) override;
  void detach(const TargetInfo& target) override;
  void read(const TargetInfo& target, TargetFigures& figures) override;

  // The probes' created/exited counters per site (run-time gopc) of `pid` as last read,
  // for the leak detector; nothing when the probes are not on it.
  std::optional<std::unordered_map<std::uint64_t, SiteCounter>> site_counters(pid_t pid) const;
  // Events and counts the BPF side lost (ring buffer full, failed reads, full maps), over
  // all targets since the loader opened; read once a second by the poll thread.
  std::uint64_t events_lost() const { return lost_.load(std::memory_order_relaxed); }
  // "on (N probes, watch|trace tier)" or "off: <why>", for the leaks report.
  std::string status(pid_t pid) const;
  // How full the loader's maps were at the last count (every 10 s, by the poll thread:
  // a count walks every key, too much for every scrape); empty before the first.
  std::vector<MapOccupancy> map_occupancy() const;
  // Sites exported per target before the rest is summed into one "other" entry (the agent
  // keeps only its top site_cap of them anyway): bounds what a poll copies.
  static constexpr std::size_t kMaxSitesPerTarget = 500;

 private:
  struct Target {
    TargetInfo info;
    std::unique_ptr<TargetWatch> watch;  // null once the process is gone (probes removed)
    std::map<std::string, PauseCounts> pauses;  // by phase
    PauseCounts mark_phase;
  };
  struct Published {
    std::uint64_t start_ticks = 0;
    TargetFigures figures;
    std::unordered_map<std::uint64_t, SiteCounter> sites;
    std::string status;
    bool traced = false;  // the per-site counters are the probes' (trace tier)
  };

  void poll();  // the worker's job, every 200 ms
  // Drains the ring; in a site round (every 5th poll, numbered), also reads and publishes
  // the traced targets' figures, and a fifth of the watched ones'.
  void poll_once(std::optional<int> site_round);
  void count_map_entries();
  void on_event(const goscry_event& e);
  Published publish(const Target& t) const;

  // The loader and every watch: BpfLoader is not thread-safe.
  std::mutex loader_mu_;
  std::unique_ptr<BpfLoader> loader_;
  std::optional<Error> loader_error_;
  std::map<pid_t, Target> targets_;
  std::atomic<std::uint64_t> lost_{0};

  mutable std::mutex figures_mu_;
  std::map<pid_t, Published> published_;
  std::vector<MapOccupancy> occupancy_;

  int polls_ = 0;  // by the worker only
  // Last: it stops (in the destructor) before anything its job uses goes.
  PeriodicWorker worker_;
};

}  // namespace goscry
