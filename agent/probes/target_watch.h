// One Go process watched by the runtime probes, as `goscry top` and `goscry gc` need it:
// checks the PID and the binary, loads the BPF programs, attaches, closes the attach window,
// reads the goroutines that were alive before the probes (after attaching them, so none
// falls between the two), and then feeds the goroutine tracker from the window map and the
// counters, the GC tracker from the ring buffer.
//
// Errors a user can cause end in one sentence: "no process with pid 4242", "pid 4242
// (/usr/bin/sleep): not a Go binary (no .go.buildinfo)", the missing capabilities.
// Everything attached goes when the watch is destroyed.
#pragma once

#include "agent/base/monotonic_clock.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>

#include "agent/goruntime/gc_pacer.h"
#include "agent/goruntime/go_process.h"
#include "agent/goruntime/goroutine_count.h"
#include "agent/probes/attacher.h"
#include "agent/probes/bpf_loader.h"
#include "agent/probes/gc_tracker.h"
#include "symbolizer/runtime_globals.h"
#include "symbolizer/go_binary.h"
#include "agent/probes/goroutine_tracker.h"
#include "symbolizer/proc_stat.h"  // process_alive
#include "symbolizer/process.h"
#include "symbolizer/runtime_layout.h"

namespace goscry {


// process_alive(pid) (symbolizer/proc_stat.h) tells whether a watched target still runs.

// Why a cycle ran, with the caller of runtime.GC / debug.FreeOSMemory read from gcStart's
// return addresses in `sym` (addresses in the process minus `bias`).
GcCauseResolver gc_cause_resolver(std::shared_ptr<const GoBinary> sym, std::uint64_t bias);

// Events and counts lost in BPF, all targets of `loader` (sum of the drop counters).
std::uint64_t events_lost(const BpfLoader& loader);

class TargetWatch {
 public:
  // `shared`: a loader the caller owns and keeps alive longer than the watch (the agent's
  // one loader for all its targets); without it the watch opens its own. Checks the pid and
  // the privileges, then opens the process as every consumer does (GoProcess::open).
  // `tier`: kWatch attaches no per-goroutine probe and counts the live goroutines as
  // NumGoroutine() does (live_goroutines()); the goroutine tracker then stays empty.
  static Result<std::unique_ptr<TargetWatch>> open(int pid, BpfLoader* shared = nullptr,
                                                   GoroutineTier tier = GoroutineTier::kTrace);
  // The same on a process already open: its binary's facts and load bias are taken as they
  // are, not looked up again.
  static Result<std::unique_ptr<TargetWatch>> open(std::shared_ptr<const GoProcess> go,
                                                   BpfLoader* shared = nullptr,
                                                   GoroutineTier tier = GoroutineTier::kTrace);
  ~TargetWatch();

  int pid() const { return pid_; }
  std::string go_version() const { return go_->go_version(); }
  const std::string& exe() const { return go_->exe(); }
  const GoProcess& process() const { return *go_; }

  // Waits up to `timeout_ms` for STW / goroutine events and feeds them to the
  // trackers; `on_gc` sees each GC update as it comes.
  Result<void> poll(int timeout_ms, const std::function<void(const GcUpdate&)>& on_gc = {});
  // Reads the per-site counters into the goroutine tracker (one interval).
  Result<void> refresh();
  // With a shared loader the caller drains the ring buffer for every target: it hands
  // this target's events here and then calls update_sites(), never poll()/refresh()
  // (which would swallow the other targets' events).
  GcUpdate feed(const goscry_event& e);
  Result<void> update_sites();
  // Per site, the goroutines created since attach and how many of them ended, as of the
  // last refresh()/update_sites() (GoroutineTracker::born_counts).
  const std::vector<SiteCounts>& site_counts() const { return last_counts_; }
  // CLOCK_MONOTONIC just before the last refresh()/update_sites() read the kernel's figures.
  std::uint64_t counted_at_ns() const { return counted_at_ns_; }
  std::size_t probe_count() const { return attachment_ ? attachment_->probe_count() : 0; }
  GoroutineTier tier() const { return counter_ ? GoroutineTier::kWatch : GoroutineTier::kTrace; }
  // Watch tier: runtime.NumGoroutine() as of the last update_sites(); nothing in the trace
  // tier (goroutines().totals() has it) or before a first good read.
  std::optional<std::int64_t> live_goroutines() const { return live_; }

  const GoroutineTracker& goroutines() const { return goroutines_; }
  // The GC pacer in force now (heap goal, GOGC, GOMEMLIMIT), read from the target's memory;
  // fails where runtime.gcController or its layout is unknown.
  Result<GcPacer> gc_pacer() const;
  const GcTracker& gc() const { return gc_; }
  // Events and counts lost in BPF (sum of the drop counters), for the summary.
  std::uint64_t lost() const;

 private:
  explicit TargetWatch(std::shared_ptr<const GoProcess> go)
      : pid_(go->pid()), go_(go), goroutines_(go->binary_ptr(), go->bias()),
        gc_(gc_cause_resolver(go->binary_ptr(), go->bias())) {}
  // The attach window map's size for this target: every goroutine alive at attach may leave
  // an entry there until the agent reads it, so it follows allglen (bpf/runtime.bpf.c).
  std::uint32_t window_entries() const;
  // Reads runtime.sched.goidgen and closes the attach window at it.
  Result<void> close_window();
  Result<void> snapshot();
  // Watch tier: finds what gcount() reads.
  Result<void> locate_counter();
  // Feeds the window map's new entries to the goroutine tracker as events, and deletes
  // those it will not need again (ended, or above the goid generator).
  void read_window();

  int pid_;
  std::shared_ptr<const GoProcess> go_;  // the process, its binary's facts, its load bias
  std::unique_ptr<BpfLoader> own_loader_;
  BpfLoader* loader_ = nullptr;
  std::unique_ptr<Attachment> attachment_;
  std::vector<SiteCounts> last_counts_;
  std::uint64_t counted_at_ns_ = 0;
  std::uint64_t goid_generator_ = 0;  // runtime.sched.goidgen once the probes were in
  bool window_synced_ = true;  // no probe of the open window ran on past its close
  std::unordered_set<std::uint64_t> window_born_;  // window entries whose birth was fed
  GoroutineTracker goroutines_;
  GcTracker gc_;
  std::optional<GoroutineCounter> counter_;  // the watch tier's
  std::optional<std::int64_t> live_;
};

}  // namespace goscry
