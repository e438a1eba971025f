#include "agent/probes/gc_cycles.h"

#include <array>
#include <cstring>

namespace goscry {

std::string stw_reason_name(std::uint32_t reason, std::string_view preemptoff) {
  static constexpr std::array<const char*, 17> kNames = {
      "unknown",
      "GC mark termination",
      "GC sweep termination",
      "write heap dump",
      "goroutine profile",
      "goroutine profile cleanup",
      "all goroutines stack trace",
      "read mem stats",
      "AllThreadsSyscall",
      "GOMAXPROCS",
      "start trace",
      "stop trace",
      "CountPagesInUse (test)",
      "ReadMetricsSlow (test)",
      "ReadMemStatsSlow (test)",
      "PageCachePagesLeaked (test)",
      "ResetDebugLog (test)",
  };
  // 1.19-1.20 map their two GC reasons onto 1.21's numbers and name the rest by
  // preemptoff ("read mem stats", "GOMAXPROCS", ...).
  if (reason == 0 && !preemptoff.empty()) return std::string(preemptoff);
  if (reason < kNames.size()) return kNames[reason];
  return "stwReason " + std::to_string(reason);
}

std::optional<GcCycle> GcCycles::add(const goscry_event& e) {
  if (e.kind != GOSCRY_EV_STW) return std::nullopt;
  const std::size_t len = strnlen(e.preemptoff, sizeof e.preemptoff);
  StwPause p{e.start_ns, e.end_ns, e.reason,
             stw_reason_name(e.reason, std::string_view(e.preemptoff, len)), e.gc_cycle};
  if (e.reason == GOSCRY_STW_GC_SWEEP_TERM) {
    // A cycle still open here never completed under our eyes (it cannot, in the runtime:
    // a new cycle starts only after the previous one's mark termination); start afresh.
    open_ = GcCycle{};
    open_->sweep_term = p;
    return std::nullopt;
  }
  if (e.reason != GOSCRY_STW_GC_MARK_TERM) {
    other_.push_back(std::move(p));
    return std::nullopt;
  }
  // The sweep termination of another cycle (this one's was lost in BPF, or the other's
  // mark termination was): the runtime's numbers tell them apart.
  if (open_ && open_->whole && p.gc_cycle && open_->sweep_term.gc_cycle &&
      open_->sweep_term.gc_cycle != p.gc_cycle)
    open_.reset();
  if (!open_) {  // attached during the mark phase
    open_ = GcCycle{};
    open_->whole = false;
  }
  if (!(e.flags & GOSCRY_STW_CYCLE_DONE)) {
    open_->restarts.push_back(std::move(p));
    return std::nullopt;
  }
  GcCycle done = std::move(*open_);
  open_.reset();
  done.seen = ++completed_;
  done.number = p.gc_cycle ? p.gc_cycle : done.sweep_term.gc_cycle;
  if (done.whole) done.mark_phase_ns = p.start_ns - done.sweep_term.end_ns;
  done.mark_term = std::move(p);
  return done;
}

}  // namespace goscry
