// The GC pacer's state in force now, read from a live Go process's runtime.gcController
// (docs/go-runtime.md "Why a GC cycle ran"): the heap goal as runtime/metrics'
// /gc/heap/goal:bytes computes it (gcControllerState.heapGoal), GOGC and GOMEMLIMIT as
// /gc/gogc:percent and /gc/gomemlimit:bytes report them, and the live heap. One read of the
// controller's bytes, so the fields are of one moment as far as a read from outside can be.
#pragma once

#include <cstdint>

#include "symbolizer/error.h"
#include "symbolizer/process.h"
#include "symbolizer/runtime_layout.h"

namespace goscry {

struct GcPacer {
  std::uint64_t heap_goal = 0;    // heapGoal(): the GOGC goal, or the memory limit's if lower
  std::uint64_t heap_live = 0;    // gcController.heapLive: bytes in spans allocated since
  std::uint64_t heap_marked = 0;  // gcController.heapMarked: marked live by the last cycle
  std::int32_t gogc = 0;          // gcPercent; -1 = off
  std::int64_t memory_limit = 0;  // memoryLimit, bytes (math.MaxInt64 = none)
};

// `gc_controller` is the run-time address of runtime.gcController (find_gc_controller plus
// the load bias); `go_minor` picks the memory-limit headroom rule (1.21+: 3 %, at least
// 1 MiB; before: 1 MiB).
Result<GcPacer> read_gc_pacer(const Process& process, const RuntimeLayout& layout,
                              std::uint64_t gc_controller, int go_minor);

}  // namespace goscry
