// Turns the stop-the-world events of runtime.bpf.c into GC cycles: a cycle opens with the
// sweep-termination pause, runs its concurrent mark phase, and closes with the
// mark-termination pause in which gcMarkTermination ran. A mark-termination pause without
// it is a mark restart (the runtime found work left and resumed marking): its time counts
// in the cycle, which stays open. Other pauses (ReadMemStats, GOMAXPROCS, ...) are kept
// apart with their reason. Each cycle carries why it ran (gcStart's trigger, seen in the
// sweep-termination event) and what it cost (the pacer's figures, in the event of the mark
// termination that completed it). No I/O: fed events, hands back cycles.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/runtime.h"

namespace goscry {

struct StwPause {
  std::uint64_t start_ns = 0;  // CLOCK_MONOTONIC, Go's nanotime
  std::uint64_t end_ns = 0;
  std::uint32_t reason = 0;  // Go 1.21+ stwReason numbering
  std::string reason_name;   // as the runtime names it: "GC sweep termination", ...
  std::uint32_t gc_cycle = 0;  // a GC pause: the runtime's work.cycles then; 0 = unknown
  std::uint64_t duration_ns() const { return end_ns - start_ns; }
};

// Why a cycle ran (docs/go-runtime.md "Why a GC cycle ran"). runtime.GC and
// debug.FreeOSMemory both pass gcTriggerCycle to gcStart: the callers tell them apart.
enum class GcTrigger { kUnknown, kHeap, kTime, kRuntimeGC, kFreeOSMemory };
// The label of a trigger in metrics and JSON: "heap", "time", "runtime.GC",
// "debug.FreeOSMemory", "unknown".
const char* gc_trigger_name(GcTrigger t);

struct GcCause {
  GcTrigger trigger = GcTrigger::kUnknown;
  // kRuntimeGC / kFreeOSMemory: the function that called runtime.GC or
  // debug.FreeOSMemory ("main.flush"); empty when its frames could not be read.
  std::string caller;
};

// The runtime's figures of a cycle, read when its mark termination's world started; each
// absent where goscry could not read it (runtime.gcController or an offset unknown).
struct GcFigures {
  std::optional<std::uint64_t> heap_live_start;  // work.heap0: heap live at the start
  std::optional<std::uint64_t> heap_marked;      // gcController.heapMarked: live at the end
  std::optional<std::uint64_t> heap_goal;        // gcController.lastHeapGoal: the cycle's goal
  std::optional<std::int32_t> gogc;              // GOGC in force, -1 = off
  std::optional<std::int64_t> memory_limit;      // GOMEMLIMIT in force, bytes
  // The cycle's mark CPU, ns (gcController.assistTime, dedicatedMarkTime, ...).
  std::optional<std::int64_t> assist_ns, dedicated_ns, fractional_ns, idle_ns;
};

// Turns gcStart's trigger and return addresses (goscry_gc_info) into a cause; the watch
// supplies one that symbolizes the callers in the target's binary.
using GcCauseResolver = std::function<GcCause(const goscry_gc_info&)>;
// Without symbols: heap, time, or runtime.GC with no caller.
GcCause gc_cause_of(const goscry_gc_info& info);
GcFigures gc_figures_of(const goscry_gc_info& info);

struct GcCycle {
  // The runtime's number of the cycle (work.cycles at its pauses): the NumGC it completes,
  // the N of gctrace's "gc N @..."; 0 when goscry could not read it (runtime.work unknown).
  std::uint32_t number = 0;
  std::uint64_t seen = 0;  // 1, 2, ...: the cycles completed since attach
  // false when attach happened mid-cycle: the sweep-termination pause was not seen, so
  // sweep_term and mark_phase are unknown (0).
  bool whole = true;
  StwPause sweep_term;
  std::uint64_t mark_phase_ns = 0;  // end of sweep termination -> start of mark termination
  StwPause mark_term;               // the pause that completed the cycle
  std::vector<StwPause> restarts;   // mark-termination pauses that resumed marking
  GcCause cause;                    // unknown when the sweep termination was not seen
  GcFigures figures;
};

// The name the runtime gives a stop-the-world reason (runtime.stwReasonStrings, identical
// in 1.21-1.27); for 1.19-1.20, whose reason is m.preemptoff, `preemptoff` is the name.
std::string stw_reason_name(std::uint32_t reason, std::string_view preemptoff);

class GcCycles {
 public:
  explicit GcCycles(GcCauseResolver resolve = gc_cause_of) : resolve_(std::move(resolve)) {}
  // Feeds one GOSCRY_EV_STW event (others are ignored); returns the cycle it completes.
  std::optional<GcCycle> add(const goscry_event& e);
  std::uint64_t completed() const { return completed_; }
  // Pauses that were not the GC's.
  const std::vector<StwPause>& other_pauses() const { return other_; }

 private:
  GcCauseResolver resolve_;
  std::optional<GcCycle> open_;
  std::uint64_t completed_ = 0;
  std::vector<StwPause> other_;
};

}  // namespace goscry
