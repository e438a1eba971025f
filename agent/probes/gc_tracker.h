// GC figures for `goscry top` and `goscry gc`: the cycles GcCycles assembles from the
// stop-the-world events, the pauses that were not the GC's, and per phase the
// distribution of durations (p50 / p99 / max, nearest rank over every value seen — a GC
// cycle is a few per second at most, so keeping them all is cheap).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/probes/gc_cycles.h"

namespace goscry {

struct DurationStats {
  std::uint64_t count = 0;
  std::uint64_t p50_ns = 0, p99_ns = 0, max_ns = 0;
};
// Nearest-rank percentiles of `values` (taken by value: it is sorted).
DurationStats duration_stats(std::vector<std::uint64_t> values);

// What one STW event changed.
struct GcUpdate {
  std::optional<GcCycle> cycle;     // a cycle completed
  std::optional<StwPause> other;    // a pause that was not the GC's
};

// Why the cycles seen ran, and what their marking cost, summed over the cycles completed
// since attach.
struct GcCauses {
  std::map<GcTrigger, std::uint64_t> cycles;  // completed cycles per trigger
  // Forced cycles per (trigger, caller): {kRuntimeGC, "main.flush"} -> 2.
  std::map<std::pair<GcTrigger, std::string>, std::uint64_t> forced_by;
  // Mark CPU of the cycles whose figures were read (cpu_cycles of them), seconds.
  std::uint64_t cpu_cycles = 0;
  double assist_s = 0, dedicated_s = 0, fractional_s = 0, idle_s = 0;
  // The figures of the last completed cycle.
  GcFigures last;
};

// "93 % of cycles triggered by heap growth; 2 forced by main.flush (runtime.GC)": why the
// cycles ran, most frequent cause first; "" with no cycle.
std::string gc_why_summary(const GcCauses& c);

class GcTracker {
 public:
  explicit GcTracker(GcCauseResolver resolve = gc_cause_of) : cycles_(std::move(resolve)) {}
  GcUpdate add(const goscry_event& e);
  const GcCauses& causes() const { return causes_; }

  std::uint64_t cycles() const { return cycles_.completed(); }
  // The runtime's numbers of the first and last cycle completed since attach (0 = none
  // completed, or their numbers unknown).
  std::uint32_t first_cycle() const { return first_cycle_; }
  std::uint32_t last_cycle() const { return last_cycle_; }
  // Every GC pause (sweep termination, mark termination, restarts), for top's STW figure.
  DurationStats gc_pauses() const { return duration_stats(gc_pause_ns_); }
  DurationStats sweep_termination() const { return duration_stats(sweep_ns_); }
  DurationStats mark_phase() const { return duration_stats(mark_ns_); }
  DurationStats mark_termination() const { return duration_stats(mark_term_ns_); }
  DurationStats other_pauses() const { return duration_stats(other_ns_); }

 private:
  void count_cause(const GcCycle& c);

  GcCycles cycles_;
  GcCauses causes_;
  std::uint32_t first_cycle_ = 0, last_cycle_ = 0;
  std::vector<std::uint64_t> gc_pause_ns_, sweep_ns_, mark_ns_, mark_term_ns_, other_ns_;
};

}  // namespace goscry
