#include "agent/probes/cpu_stack_switch.h"

namespace goscry {
namespace {

bool within(__u64 pc, __u64 lo, __u64 hi) { return pc >= lo && pc < hi; }

}  // namespace

std::vector<__u64> goroutine_user_stack(std::span<const __u64> pcs, __u64 sched_pc,
                                       __u64 sched_ret, const goscry_cpu_target& t) {
  std::vector<__u64> out;
  out.reserve(pcs.size() + 2);
  bool jumped = false;  // the runtime jumps once: from g0 to m.curg
  for (__u64 pc : pcs) {
    if (within(pc, t.goexit_lo, t.goexit_hi)) continue;
    if (!jumped && within(pc, t.systemstack_lo, t.systemstack_hi)) {
      // systemstack stays; without the goroutine to jump to (sched_pc 0) the stack ends.
      // Then its caller on the goroutine's stack: up to Go 1.20 systemstack had no frame,
      // the caller's return address is the word at curg.sched.sp and the walk goes on at
      // the caller's caller; from 1.21 it pushes BP, the word there is that saved BP (not
      // Go text: the sampler gave 0) and the walk already goes through the caller.
      out.push_back(pc);
      if (sched_pc == 0) break;
      if (sched_ret != 0) out.push_back(sched_ret);
      jumped = true;
      continue;
    }
    if (!jumped && within(pc, t.morestack_lo, t.morestack_hi)) {
      // morestack goes: the function that grew its stack (curg.sched.pc, in its prologue),
      // then its caller (at curg.sched.sp: no frame was pushed yet); the walk goes on at
      // the caller's caller.
      if (sched_pc == 0 || sched_ret == 0) {
        out.push_back(pc);
        break;
      }
      out.push_back(sched_pc);
      out.push_back(sched_ret);
      jumped = true;
      continue;
    }
    out.push_back(pc);
    // mcall writes SP; mstart is the root of an M's own stack (a thread's first Go
    // function): past either the frame pointer chain is not Go's, and the runtime's
    // traceback stops there (docs/go-runtime.md, "CPU samples on the system stack").
    if (within(pc, t.mcall_lo, t.mcall_hi) || within(pc, t.mstart_lo, t.mstart_hi)) break;
  }
  return out;
}

}  // namespace goscry
