// The Go runtime's traceback rules for CPU samples (agent/probes/cpu_stack_switch.h) on
// stacks laid out as the frame pointer walk finds them on amd64 (asm_amd64.s, 1.19-1.27):
// the expected stacks are what runtime/pprof's SIGPROF traceback gives for the same
// moment (traceback.go, unwindJumpStack; pprof/proto.go, allFrames). The live check of
// the same rules against a program's own profile is
// RecordOracles.StacksContinueFromTheSystemStackIntoTheGoroutine.
#include "agent/probes/cpu_stack_switch.h"

#include <gtest/gtest.h>

#include <vector>

namespace goscry {
namespace {

// Run-time ranges as go_cpu_target sets them.
goscry_cpu_target runtime_ranges() {
  goscry_cpu_target t{};
  t.systemstack_lo = 0x1000, t.systemstack_hi = 0x1080;
  t.morestack_lo = 0x2000, t.morestack_hi = 0x2080;
  t.mcall_lo = 0x2800, t.mcall_hi = 0x2880;
  t.mstart_lo = 0x2900, t.mstart_hi = 0x2940;
  t.goexit_lo = 0x3000, t.goexit_hi = 0x3008;
  return t;
}

using Stack = std::vector<__u64>;

// Go 1.19/1.20: gcDrain <- gcBgMarkWorker.func2 <- systemstack on g0; the walk then goes on from
// gcBgMarkWorker's frame pointer, to its caller goexit: gcBgMarkWorker itself (the return
// address at curg.sched.sp) is what the runtime shows after systemstack.
TEST(CpuStackSwitch, SystemstackIsFollowedByTheGoroutinesFrameThatCalledIt) {
  const Stack walk = {0x5010, 0x5120, 0x1040, 0x3001};
  EXPECT_EQ(goroutine_user_stack(walk, 0x1100, 0x6230, runtime_ranges()),
            (Stack{0x5010, 0x5120, 0x1040, 0x6230}));
}

// From Go 1.21 systemstack has a frame: the walk goes through it to gcBgMarkWorker and the
// word at curg.sched.sp is systemstack's saved BP, which the sampler does not pass on.
TEST(CpuStackSwitch, AFramedSystemstackKeepsTheWalk) {
  const Stack walk = {0x5010, 0x5120, 0x1040, 0x6230, 0x3001};
  EXPECT_EQ(goroutine_user_stack(walk, 0x1100, 0, runtime_ranges()),
            (Stack{0x5010, 0x5120, 0x1040, 0x6230}));
}

// newstack <- morestack on g0: morestack is not shown; the function whose prologue called
// it (curg.sched.pc) and that function's caller (the return address at curg.sched.sp) are.
TEST(CpuStackSwitch, MorestackIsReplacedByTheGrowingFunctionAndItsCaller) {
  const Stack walk = {0x5010, 0x2050, 0x7040, 0x3001};
  EXPECT_EQ(goroutine_user_stack(walk, 0x6010, 0x6230, runtime_ranges()),
            (Stack{0x5010, 0x6010, 0x6230, 0x7040}));
}

// A sample on a goroutine's own stack: the walk as it is, without goexit.
TEST(CpuStackSwitch, OnTheGoroutinesStackOnlyGoexitIsLeftOut) {
  const Stack walk = {0x5010, 0x7040, 0x3001};
  EXPECT_EQ(goroutine_user_stack(walk, 0, 0, runtime_ranges()), (Stack{0x5010, 0x7040}));
  EXPECT_EQ(goroutine_user_stack(Stack{0x3000}, 0, 0, runtime_ranges()), Stack{});
}

// No goroutine to jump to (m.curg nil, as under runtime.Stack's traceback of all
// goroutines): the traceback stops at systemstack (it writes SP) and at morestack, where
// the walk would go on into a goroutine's frames.
TEST(CpuStackSwitch, WithoutTheGoroutineTheStackEndsAtTheSwitch) {
  EXPECT_EQ(goroutine_user_stack(Stack{0x5010, 0x1040, 0x7040, 0x3001}, 0, 0, runtime_ranges()),
            (Stack{0x5010, 0x1040}));
  EXPECT_EQ(goroutine_user_stack(Stack{0x5010, 0x2050, 0x7040, 0x3001}, 0, 0, runtime_ranges()),
            (Stack{0x5010, 0x2050}));
}

// schedule <- park_m <- mcall on g0: mcall kept the parking goroutine's frame pointer, so
// the walk goes on into the goroutine that parked; the runtime's traceback stops at mcall
// (it writes SP), so the scheduler's time is not charged to that goroutine's functions.
TEST(CpuStackSwitch, McallEndsTheStack) {
  const Stack walk = {0x5010, 0x5120, 0x2840, 0x7040, 0x3001};
  EXPECT_EQ(goroutine_user_stack(walk, 0, 0, runtime_ranges()),
            (Stack{0x5010, 0x5120, 0x2840}));
}

// sysmon <- mstart1 <- mstart0 <- mstart on an M's own stack: the thread began at mstart
// with whatever BP clone left it, so the walk past mstart reads words that are not return
// addresses (a heap pointer, seen under the `profiled` fixture); the runtime's traceback
// stops at mstart, its top frame.
TEST(CpuStackSwitch, MstartEndsTheStack) {
  const Stack walk = {0x5010, 0x5120, 0x2910, 0xc00009e1a0};
  EXPECT_EQ(goroutine_user_stack(walk, 0, 0, runtime_ranges()), (Stack{0x5010, 0x5120, 0x2910}));
}

}  // namespace
}  // namespace goscry
