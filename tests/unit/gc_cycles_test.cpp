// GcCycles on event sequences the runtime produces: a plain cycle, a mark restart, attach
// in the middle of a cycle, other pauses, and 1.19-1.20's preemptoff reasons.
#include "agent/probes/gc_cycles.h"
#include "agent/probes/gc_tracker.h"

#include <gtest/gtest.h>

#include <cstring>

namespace goscry {
namespace {

goscry_event stw(std::uint64_t start, std::uint64_t end, std::uint32_t reason,
                 std::uint32_t flags = 0, const char* preemptoff = "", std::uint32_t cycle = 0) {
  goscry_event e{};
  e.gc_cycle = cycle;
  e.kind = GOSCRY_EV_STW;
  e.start_ns = start;
  e.end_ns = end;
  e.reason = reason;
  e.flags = flags;
  std::strncpy(e.preemptoff, preemptoff, sizeof e.preemptoff - 1);
  return e;
}

TEST(GcCycles, ACycleIsSweepTerminationMarkPhaseAndMarkTermination) {
  GcCycles gc;
  EXPECT_FALSE(gc.add(stw(1000, 1100, GOSCRY_STW_GC_SWEEP_TERM)));
  auto c = gc.add(stw(5000, 5300, GOSCRY_STW_GC_MARK_TERM, GOSCRY_STW_CYCLE_DONE));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->seen, 1u);
  EXPECT_EQ(c->number, 0u);  // the runtime's work.cycles was not read
  EXPECT_TRUE(c->whole);
  EXPECT_EQ(c->sweep_term.duration_ns(), 100u);
  EXPECT_EQ(c->mark_phase_ns, 3900u);
  EXPECT_EQ(c->mark_term.duration_ns(), 300u);
  EXPECT_EQ(c->sweep_term.reason_name, "GC sweep termination");
  EXPECT_EQ(c->mark_term.reason_name, "GC mark termination");
  EXPECT_EQ(gc.completed(), 1u);
}

TEST(GcCycles, AMarkRestartKeepsTheCycleOpen) {
  GcCycles gc;
  gc.add(stw(1000, 1100, GOSCRY_STW_GC_SWEEP_TERM));
  EXPECT_FALSE(gc.add(stw(4000, 4050, GOSCRY_STW_GC_MARK_TERM)));  // no gcMarkTermination
  auto c = gc.add(stw(6000, 6200, GOSCRY_STW_GC_MARK_TERM, GOSCRY_STW_CYCLE_DONE));
  ASSERT_TRUE(c);
  ASSERT_EQ(c->restarts.size(), 1u);
  EXPECT_EQ(c->restarts[0].duration_ns(), 50u);
  EXPECT_EQ(c->mark_phase_ns, 4900u);
}

TEST(GcCycles, AttachDuringTheMarkPhaseGivesAPartialCycle) {
  GcCycles gc;
  auto c = gc.add(stw(6000, 6200, GOSCRY_STW_GC_MARK_TERM, GOSCRY_STW_CYCLE_DONE));
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->whole);
  EXPECT_EQ(c->mark_phase_ns, 0u);
  EXPECT_EQ(c->mark_term.duration_ns(), 200u);
}

// work.cycles, read by the probes at the end of each GC pause, numbers the cycles as the
// runtime does (NumGC, gctrace's "gc N"), from the first one seen after attach.
TEST(GcCycles, CyclesCarryTheRuntimesNumber) {
  GcCycles gc;
  auto partial = gc.add(stw(100, 200, GOSCRY_STW_GC_MARK_TERM, GOSCRY_STW_CYCLE_DONE, "", 41));
  ASSERT_TRUE(partial);
  EXPECT_FALSE(partial->whole);
  EXPECT_EQ(partial->number, 41u);
  EXPECT_EQ(partial->seen, 1u);
  gc.add(stw(1000, 1100, GOSCRY_STW_GC_SWEEP_TERM, 0, "", 42));
  auto c = gc.add(stw(5000, 5300, GOSCRY_STW_GC_MARK_TERM, GOSCRY_STW_CYCLE_DONE, "", 42));
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->whole);
  EXPECT_EQ(c->number, 42u);
  EXPECT_EQ(c->seen, 2u);
}

// A sweep termination whose cycle's mark termination never arrived (lost in BPF) is not
// glued to the next cycle's mark termination: the numbers differ, the cycle is partial.
TEST(GcCycles, ASweepTerminationOfAnotherCycleIsNotGluedOn) {
  GcCycles gc;
  gc.add(stw(1000, 1100, GOSCRY_STW_GC_SWEEP_TERM, 0, "", 7));
  auto c = gc.add(stw(9000, 9300, GOSCRY_STW_GC_MARK_TERM, GOSCRY_STW_CYCLE_DONE, "", 8));
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->whole);
  EXPECT_EQ(c->number, 8u);
  EXPECT_EQ(c->mark_phase_ns, 0u);
}

TEST(GcCycles, OtherPausesKeepTheirReason) {
  GcCycles gc;
  gc.add(stw(10, 20, 7));
  gc.add(stw(30, 45, 0, 0, "GOMAXPROCS"));  // 1.19-1.20: named by m.preemptoff
  gc.add(stw(50, 60, 99));
  ASSERT_EQ(gc.other_pauses().size(), 3u);
  EXPECT_EQ(gc.other_pauses()[0].reason_name, "read mem stats");
  EXPECT_EQ(gc.other_pauses()[1].reason_name, "GOMAXPROCS");
  EXPECT_EQ(gc.other_pauses()[2].reason_name, "stwReason 99");
  EXPECT_EQ(gc.completed(), 0u);
}

}  // namespace
}  // namespace goscry

namespace goscry {
namespace {

// Why a cycle ran comes from its sweep-termination event, what it cost from the event of
// the mark termination that completed it; a figure BPF did not read stays absent.
TEST(GcCycles, ACycleCarriesItsTriggerAndTheFiguresReadAtItsEnd) {
  GcCycles gc;
  goscry_event sweep = stw(1000, 1100, GOSCRY_STW_GC_SWEEP_TERM);
  sweep.gc.flags = GOSCRY_GC_TRIGGER_SEEN;
  sweep.gc.trigger = GOSCRY_GC_TRIGGER_HEAP;
  gc.add(sweep);
  goscry_event mark = stw(5000, 5300, GOSCRY_STW_GC_MARK_TERM, GOSCRY_STW_CYCLE_DONE);
  mark.gc.flags = GOSCRY_GC_HEAP_READ | GOSCRY_GC_PACER_READ;
  mark.gc.heap0 = 5 << 20;
  mark.gc.heap_marked = 4 << 20;
  mark.gc.last_heap_goal = 8 << 20;
  mark.gc.gc_percent = 50;
  mark.gc.memory_limit = 1 << 30;
  mark.gc.assist_ns = 123;  // not flagged as read: must not show
  auto c = gc.add(mark);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->cause.trigger, GcTrigger::kHeap);
  EXPECT_EQ(c->figures.heap_live_start, 5u << 20);
  EXPECT_EQ(c->figures.heap_marked, 4u << 20);
  EXPECT_EQ(c->figures.heap_goal, 8u << 20);
  EXPECT_EQ(c->figures.gogc, 50);
  EXPECT_EQ(c->figures.memory_limit, 1 << 30);
  EXPECT_FALSE(c->figures.assist_ns);
  // Attached mid-cycle: no sweep termination, no trigger.
  auto late = gc.add(stw(9000, 9100, GOSCRY_STW_GC_MARK_TERM, GOSCRY_STW_CYCLE_DONE));
  ASSERT_TRUE(late);
  EXPECT_EQ(late->cause.trigger, GcTrigger::kUnknown);
}

TEST(GcCycles, TheWhySummaryNamesTheShareOfEachCauseAndWhoForced) {
  GcCauses c;
  EXPECT_EQ(gc_why_summary(c), "");
  c.cycles[GcTrigger::kHeap] = 13;
  c.cycles[GcTrigger::kRuntimeGC] = 2;
  c.forced_by[{GcTrigger::kRuntimeGC, "main.flush"}] = 2;
  EXPECT_EQ(gc_why_summary(c),
            "87 % of cycles triggered by heap growth; 2 forced by main.flush (runtime.GC)");
}

}  // namespace
}  // namespace goscry
