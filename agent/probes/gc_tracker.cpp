#include "agent/probes/gc_tracker.h"

#include <algorithm>

namespace goscry {

DurationStats duration_stats(std::vector<std::uint64_t> v) {
  DurationStats s;
  s.count = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  // Nearest rank: the smallest value with at least p% of the values at or below it.
  auto rank = [&](unsigned p) { return v[(v.size() * p + 99) / 100 - 1]; };
  s.p50_ns = rank(50);
  s.p99_ns = rank(99);
  s.max_ns = v.back();
  return s;
}

GcUpdate GcTracker::add(const goscry_event& e) {
  GcUpdate u;
  if (e.kind != GOSCRY_EV_STW) return u;
  const std::size_t others_before = cycles_.other_pauses().size();
  const bool gc = e.reason == GOSCRY_STW_GC_SWEEP_TERM || e.reason == GOSCRY_STW_GC_MARK_TERM;
  if (gc) gc_pause_ns_.push_back(e.end_ns - e.start_ns);
  u.cycle = cycles_.add(e);
  if (cycles_.other_pauses().size() > others_before) {
    u.other = cycles_.other_pauses().back();
    other_ns_.push_back(u.other->duration_ns());
  }
  if (u.cycle) {
    if (u.cycle->whole) {
      sweep_ns_.push_back(u.cycle->sweep_term.duration_ns());
      mark_ns_.push_back(u.cycle->mark_phase_ns);
    }
    mark_term_ns_.push_back(u.cycle->mark_term.duration_ns());
    if (u.cycle->number && !first_cycle_) first_cycle_ = u.cycle->number;
    if (u.cycle->number) last_cycle_ = u.cycle->number;
  }
  return u;
}

}  // namespace goscry
