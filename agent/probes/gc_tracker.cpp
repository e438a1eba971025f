#include "agent/probes/gc_tracker.h"

#include <algorithm>
#include <cmath>
#include <vector>

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

namespace {

std::string trigger_phrase(GcTrigger t) {
  switch (t) {
    case GcTrigger::kHeap: return "triggered by heap growth";
    case GcTrigger::kTime: return "forced by the 2-minute timer";
    case GcTrigger::kRuntimeGC: return "forced by runtime.GC";
    case GcTrigger::kFreeOSMemory: return "forced by debug.FreeOSMemory";
    case GcTrigger::kUnknown: break;
  }
  return "of unknown cause (started before goscry attached)";
}

}  // namespace

std::string gc_why_summary(const GcCauses& c) {
  std::uint64_t total = 0;
  for (const auto& [t, n] : c.cycles) total += n;
  if (total == 0) return "";
  std::vector<std::pair<std::uint64_t, GcTrigger>> order;
  for (const auto& [t, n] : c.cycles) order.emplace_back(n, t);
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::string s;
  for (const auto& [n, t] : order) {
    if (!s.empty()) s += "; ";
    const bool forced = t == GcTrigger::kRuntimeGC || t == GcTrigger::kFreeOSMemory;
    const long pct = std::lround(100.0 * double(n) / double(total));
    if (!forced) {
      s += std::to_string(pct) + " % of cycles " + trigger_phrase(t);
      continue;
    }
    // Forced cycles name who forced them, the most frequent caller first.
    std::vector<std::pair<std::uint64_t, std::string>> by;
    for (const auto& [key, k] : c.forced_by)
      if (key.first == t) by.emplace_back(k, key.second.empty() ? "an unread caller" : key.second);
    std::sort(by.begin(), by.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    const char* via = gc_trigger_name(t);
    for (std::size_t i = 0; i < by.size(); ++i)
      s += (i ? ", " : "") + std::to_string(by[i].first) + " forced by " + by[i].second + " (" +
           via + ")";
  }
  return s;
}

void GcTracker::count_cause(const GcCycle& c) {
  ++causes_.cycles[c.cause.trigger];
  if (c.cause.trigger == GcTrigger::kRuntimeGC || c.cause.trigger == GcTrigger::kFreeOSMemory)
    ++causes_.forced_by[{c.cause.trigger, c.cause.caller}];
  const GcFigures& f = c.figures;
  if (f.assist_ns && f.dedicated_ns && f.fractional_ns && f.idle_ns) {
    ++causes_.cpu_cycles;
    causes_.assist_s += double(*f.assist_ns) / 1e9;
    causes_.dedicated_s += double(*f.dedicated_ns) / 1e9;
    causes_.fractional_s += double(*f.fractional_ns) / 1e9;
    causes_.idle_s += double(*f.idle_ns) / 1e9;
  }
  causes_.last = f;
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
    count_cause(*u.cycle);
    if (u.cycle->number && !first_cycle_) first_cycle_ = u.cycle->number;
    if (u.cycle->number) last_cycle_ = u.cycle->number;
  }
  return u;
}

}  // namespace goscry
