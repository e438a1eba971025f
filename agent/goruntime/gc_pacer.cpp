#include "agent/goruntime/gc_pacer.h"

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <string>

namespace goscry {

namespace {

// runtime/mgcpacer.go: memoryLimitHeapGoalHeadroom (1.19-1.20), the minimum headroom and
// memoryLimitHeapGoalHeadroomPercent (1.21+); minRunway of heapGoalInternal.
constexpr std::uint64_t kMinHeadroom = 1 << 20;
constexpr std::uint64_t kHeadroomPercent = 3;
constexpr std::uint64_t kMinRunway = 64 << 10;

template <typename T>
T field(const std::vector<std::uint8_t>& bytes, int off) {
  T v{};
  std::memcpy(&v, bytes.data() + off, sizeof v);
  return v;
}

// gcControllerState.memoryLimitHeapGoal, as the runtime computes it (1.19-1.27).
std::uint64_t memory_limit_goal(std::uint64_t limit, std::uint64_t heap_free,
                                std::uint64_t heap_alloc, std::uint64_t mapped_ready,
                                std::uint64_t heap_marked, int go_minor) {
  if (heap_free + heap_alloc > mapped_ready) mapped_ready = heap_free + heap_alloc;  // torn read
  const std::uint64_t non_heap = mapped_ready - heap_free - heap_alloc;
  const std::uint64_t overage = mapped_ready > limit ? mapped_ready - limit : 0;
  if (non_heap + overage >= limit) return heap_marked;
  std::uint64_t goal = limit - (non_heap + overage);
  std::uint64_t headroom = kMinHeadroom;
  if (go_minor >= 21) headroom = std::max(goal / 100 * kHeadroomPercent, kMinHeadroom);
  goal = (goal < headroom || goal - headroom < headroom) ? headroom : goal - headroom;
  return std::max(goal, heap_marked);
}

}  // namespace

Result<GcPacer> read_gc_pacer(const Process& process, const RuntimeLayout& l,
                              std::uint64_t gc_controller, int go_minor) {
  const std::initializer_list<int> offsets = {
      l.gcc_heap_marked, l.gcc_heap_live,    l.gcc_gc_percent_heap_goal, l.gcc_sweep_dist_min_trigger,
      l.gcc_triggered,   l.gcc_gc_percent,   l.gcc_memory_limit,         l.gcc_heap_free,
      l.gcc_total_alloc, l.gcc_total_free,   l.gcc_mapped_ready};
  if (!gc_controller || std::ranges::any_of(offsets, [](int o) { return o < 0; }))
    return fail(ErrorKind::Unsupported,
                "runtime.gcController: its address or a field's offset is unknown");
  const int size = std::ranges::max(offsets) + 8;
  auto bytes = process.read(gc_controller, std::size_t(size));
  if (!bytes) return context(bytes.error(), "runtime.gcController");
  const auto& b = *bytes;
  GcPacer p;
  p.heap_marked = field<std::uint64_t>(b, l.gcc_heap_marked);
  p.heap_live = field<std::uint64_t>(b, l.gcc_heap_live);
  p.gogc = field<std::int32_t>(b, l.gcc_gc_percent);
  p.memory_limit = field<std::int64_t>(b, l.gcc_memory_limit);
  // gcControllerState.heapGoalInternal: the GOGC goal, unless the memory limit's is lower;
  // outside the memory-limit regime raised to the sweep distance and to the minimum runway
  // past the point the running cycle triggered at.
  std::uint64_t goal = field<std::uint64_t>(b, l.gcc_gc_percent_heap_goal);
  const std::uint64_t alloc =
      field<std::uint64_t>(b, l.gcc_total_alloc) - field<std::uint64_t>(b, l.gcc_total_free);
  const std::uint64_t limit_goal = memory_limit_goal(
      std::uint64_t(p.memory_limit), field<std::uint64_t>(b, l.gcc_heap_free), alloc,
      field<std::uint64_t>(b, l.gcc_mapped_ready), p.heap_marked, go_minor);
  if (limit_goal < goal) {
    goal = limit_goal;
  } else {
    goal = std::max(goal, field<std::uint64_t>(b, l.gcc_sweep_dist_min_trigger));
    const auto triggered = field<std::uint64_t>(b, l.gcc_triggered);
    if (triggered != ~std::uint64_t(0) && goal < triggered + kMinRunway)
      goal = triggered + kMinRunway;
  }
  p.heap_goal = goal;
  return p;
}

}  // namespace goscry
