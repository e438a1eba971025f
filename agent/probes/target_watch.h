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
  // one loader for all its targets); without it the watch opens its own.
  static Result<std::unique_ptr<TargetWatch>> open(int pid, BpfLoader* shared = nullptr);
  ~TargetWatch();

  int pid() const { return pid_; }
  std::string go_version() const { return symbols_->go_version(); }
  const std::string& exe() const { return exe_; }

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

  const GoroutineTracker& goroutines() const { return goroutines_; }
  // The GC pacer in force now (heap goal, GOGC, GOMEMLIMIT), read from the target's memory;
  // fails where runtime.gcController or its layout is unknown.
  Result<GcPacer> gc_pacer() const;
  const GcTracker& gc() const { return gc_; }
  // Events and counts lost in BPF (sum of the drop counters), for the summary.
  std::uint64_t lost() const;

 private:
  TargetWatch(int pid, std::shared_ptr<GoBinary> symbols, std::uint64_t bias)
      : pid_(pid), symbols_(symbols), goroutines_(symbols, bias),
        gc_(gc_cause_resolver(symbols, bias)) {}
  // runtime.allglen and allgptr at run time.
  Result<AllgAddresses> allg_addresses(std::uint64_t bias) const;
  // The attach window map's size for this target: every goroutine alive at attach may leave
  // an entry there until the agent reads it, so it follows allglen (bpf/runtime.bpf.c).
  std::uint32_t window_entries(std::uint64_t bias) const;
  // Reads runtime.sched.goidgen and closes the attach window at it.
  Result<void> close_window(std::uint64_t bias);
  Result<void> snapshot(std::uint64_t bias);
  // Feeds the window map's new entries to the goroutine tracker as events, and deletes
  // those it will not need again (ended, or above the goid generator).
  void read_window();

  int pid_;
  std::string exe_;
  std::shared_ptr<GoBinary> symbols_;
  std::optional<RuntimeLayout> layout_;  // read once: DWARF can take a while on a big binary
  std::unique_ptr<Process> process_;
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
};

}  // namespace goscry
