// runtime.NumGoroutine() of a live process, computed from outside the way the runtime
// computes it (gcount(): allglen minus the free gs on sched.gFree and on each P's gFree,
// minus sched.ngsys; docs/go-runtime.md "Counting goroutines without a probe"). A few
// reads of the target's memory and no probe: the watch tier's live count
// (docs/agent.md "Goroutine tiers"), which costs the target nothing per goroutine.
#pragma once

#include <cstdint>

#include "symbolizer/error.h"
#include "symbolizer/go_binary.h"
#include "symbolizer/process.h"
#include "symbolizer/runtime_layout.h"

namespace goscry {

class GoroutineCounter {
 public:
  // Finds runtime.allglen, runtime.sched and runtime.allp in `bin` (stripped builds
  // included: symbolizer/runtime_globals.h) and the count fields in `layout`; `bias` is the
  // load bias of the process. Fails where a global or an offset is unknown.
  static Result<GoroutineCounter> locate(const GoBinary& bin, const RuntimeLayout& layout,
                                         std::uint64_t bias);

  // What runtime.NumGoroutine() would return now. The fields change while they are read,
  // as they do under gcount() itself (it takes no lock either), so a count taken while the
  // program spawns or ends goroutines is as approximate as the runtime's own; at a quiet
  // point it is exact.
  Result<std::int64_t> read(const Process& process) const;

 private:
  GoroutineCounter() = default;
  Result<std::int64_t> free_on_sched(const Process& process) const;
  Result<std::int64_t> free_on_ps(const Process& process) const;

  std::uint64_t allglen_ = 0, sched_ = 0, allp_ = 0;  // run-time addresses
  int sched_ngsys_ = -1;
  int sched_free_ = -1;          // gFree.n (<= 1.24), or
  int sched_free_stack_ = -1;    // gFree.stack.size +
  int sched_free_nostack_ = -1;  // gFree.noStack.size (1.25+)
  int p_free_ = -1;              // p.gFree.n (<= 1.24) or p.gFree.size (1.25+)
};

}  // namespace goscry
