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

const char* gc_trigger_name(GcTrigger t) {
  switch (t) {
    case GcTrigger::kHeap: return "heap";
    case GcTrigger::kTime: return "time";
    case GcTrigger::kRuntimeGC: return "runtime.GC";
    case GcTrigger::kFreeOSMemory: return "debug.FreeOSMemory";
    case GcTrigger::kUnknown: break;
  }
  return "unknown";
}

GcCause gc_cause_of(const goscry_gc_info& info) {
  if (!(info.flags & GOSCRY_GC_TRIGGER_SEEN)) return {};
  switch (info.trigger) {
    case GOSCRY_GC_TRIGGER_HEAP: return {GcTrigger::kHeap, ""};
    case GOSCRY_GC_TRIGGER_TIME: return {GcTrigger::kTime, ""};
    case GOSCRY_GC_TRIGGER_CYCLE: return {GcTrigger::kRuntimeGC, ""};
    default: return {};
  }
}

GcFigures gc_figures_of(const goscry_gc_info& info) {
  GcFigures f;
  if (info.flags & GOSCRY_GC_HEAP_READ) {
    f.heap_live_start = info.heap0;
    f.heap_marked = info.heap_marked;
    f.heap_goal = info.last_heap_goal;
  }
  if (info.flags & GOSCRY_GC_PACER_READ) {
    f.gogc = info.gc_percent;
    f.memory_limit = info.memory_limit;
  }
  if (info.flags & GOSCRY_GC_CPU_READ) {
    f.assist_ns = info.assist_ns;
    f.dedicated_ns = info.dedicated_ns;
    f.fractional_ns = info.fractional_ns;
    f.idle_ns = info.idle_ns;
  }
  return f;
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
    open_->cause = resolve_(e.gc);
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
  done.figures = gc_figures_of(e.gc);
  return done;
}

}  // namespace goscry
