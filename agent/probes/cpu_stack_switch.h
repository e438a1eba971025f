// A CPU sample's user stack as the Go runtime's own profiler (SIGPROF's traceback) gives it,
// from the frame pointer walk the sampler took (bpf/cpu.bpf.c). The runtime's functions
// that switch stacks keep the frame pointer of the goroutine's code that called them, so
// the walk crosses from the system stack (g0) into the goroutine's stack where the
// runtime's traceback does something else:
// - runtime.systemstack, with the goroutine m.curg under it: the traceback jumps to the
//   goroutine's stack and shows the frame that called systemstack, which the walk skips
//   (systemstack has no frame); the sampler read it (curg.sched) and it is put back.
// - runtime.morestack, likewise: the traceback shows the function that grew its stack and
//   that function's caller (both skipped by the walk) and not morestack.
// - Without m.curg (or where curg.sched could not be read) the traceback stops at those
//   two, and always at runtime.mcall (a goroutine that parked, under the scheduler).
// - runtime.goexit, the bottom of every goroutine's stack, is left out (runtime/pprof's
//   allFrames drops it).
// docs/go-runtime.md, "CPU samples on the system stack".
#pragma once

#include <span>
#include <vector>

#include "bpf/cpu.h"

namespace goscry {

// `pcs` leaf first (the leaf pc, then return addresses); `sched_pc`, `sched_ret` as the
// sampler read them (goscry_cpu_sample); `target` for the functions' run-time ranges.
std::vector<__u64> goroutine_user_stack(std::span<const __u64> pcs, __u64 sched_pc,
                                       __u64 sched_ret, const goscry_cpu_target& target);

}  // namespace goscry
