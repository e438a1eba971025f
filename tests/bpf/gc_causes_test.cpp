// Why each GC cycle ran and what it cost, against the program's own runtime/metrics: the
// gccauses fixture runs heap-triggered cycles, runtime.GC() from main.flushCaches and
// debug.FreeOSMemory() from main.releaseMemory, changes GOGC and GOMEMLIMIT at run time,
// and prints its metrics at the quiescent point that ends each phase (docs/go-runtime.md
// "Why a GC cycle ran").
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "agent/base/monotonic_clock.h"
#include "agent/probes/target_watch.h"
#include "tests/support/child_process.h"
#include "tests/support/fixtures.h"
#include "tests/support/goscry_verb.h"

namespace goscry {
namespace {

using testing::all_fixtures;
using testing::ChildProcess;

// "state gogc=100 memlimit=9223372036854775807 /gc/cycles/total:gc-cycles=12 ..."
// (values as printed: integers must not go through a double, GOMEMLIMIT is MaxInt64)
using State = std::map<std::string, std::string>;

State parse_state(const std::string& line) {
  State st;
  std::istringstream in(line);
  std::string word;
  in >> word;  // "state"
  while (in >> word) {
    const auto eq = word.find('=');
    if (eq != std::string::npos) st[word.substr(0, eq)] = word.substr(eq + 1);
  }
  return st;
}

std::uint64_t u64(const State& st, const std::string& name) {
  return std::stoull(st.at(name));
}
std::int64_t i64(const State& st, const std::string& name) { return std::stoll(st.at(name)); }
double seconds(const State& st, const std::string& name) { return std::stod(st.at(name)); }

// The figures of the cycles numbered (from, to] that goscry reported.
struct Window {
  std::uint64_t cycles = 0, automatic = 0, forced = 0, unknown = 0;
  double assist_s = 0, dedicated_s = 0, idle_s = 0;
};

Window window_of(const std::vector<GcCycle>& seen, std::uint64_t from, std::uint64_t to) {
  Window w;
  for (const auto& c : seen) {
    if (c.number <= from || c.number > to) continue;
    ++w.cycles;
    switch (c.cause.trigger) {
      case GcTrigger::kHeap:
      case GcTrigger::kTime: ++w.automatic; break;
      case GcTrigger::kRuntimeGC:
      case GcTrigger::kFreeOSMemory: ++w.forced; break;
      case GcTrigger::kUnknown: ++w.unknown; break;
    }
    const GcFigures& f = c.figures;
    if (f.assist_ns) w.assist_s += double(*f.assist_ns) / 1e9;
    if (f.dedicated_ns && f.fractional_ns)
      w.dedicated_s += double(*f.dedicated_ns + *f.fractional_ns) / 1e9;
    if (f.idle_ns) w.idle_s += double(*f.idle_ns) / 1e9;
  }
  return w;
}

// Within 10 % of the runtime's figure (and 50 us for the few-microsecond ones).
void expect_cpu_near(double goscry_s, const State& now, const State& before,
                     const std::string& metric) {
  if (!now.count(metric)) return;  // 1.19 has no /cpu/classes
  const double want = seconds(now, metric) - seconds(before, metric);
  EXPECT_NEAR(goscry_s, want, std::max(0.10 * want, 50e-6)) << metric;
}

// The fixture's phases: which forced cycles each runs, by caller.
const std::vector<std::map<std::string, int>> kForcedByPhase = {
    {},
    {},
    {{"main.flushCaches (runtime.GC)", 2}},
    {{"main.releaseMemory (debug.FreeOSMemory)", 1}},
    {{"main.flushCaches (runtime.GC)", 1}},
};

TEST(GcCauses, EachCycleSaysWhyItRanLikeRuntimeMetrics) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  int runs = 0;
  for (const auto& f : all_fixtures("gccauses")) {
    SCOPED_TRACE(f.label());
    ChildProcess fixture({f.path});
    ASSERT_EQ(fixture.read_line(), "ready");
    auto watch = TargetWatch::open(fixture.pid());
    ASSERT_TRUE(watch) << watch.error().message;
    std::vector<GcCycle> seen;
    auto collect = [&](const GcUpdate& u) {
      if (u.cycle) seen.push_back(*u.cycle);
    };
    State before;
    for (std::size_t phase = 0; phase < kForcedByPhase.size(); ++phase) {
      SCOPED_TRACE("phase " + std::to_string(phase));
      fixture.write_line();
      auto line = fixture.read_line();
      ASSERT_TRUE(line && line->starts_with("state ")) << line.value_or("(no line)");
      const State now = parse_state(*line);
      const std::uint64_t total = u64(now, "/gc/cycles/total:gc-cycles");
      // Poll until goscry has seen the phase's last cycle (bounded: a lost event fails).
      const auto deadline = monotonic_ns() + 30'000'000'000;
      while (phase > 0 && (seen.empty() || seen.back().number < total) &&
             monotonic_ns() < deadline)
        ASSERT_TRUE((*watch)->poll(100, collect));
      // The pacer in force now, read from the target's memory.
      auto pacer = (*watch)->gc_pacer();
      ASSERT_TRUE(pacer) << pacer.error().message;
      EXPECT_EQ(pacer->heap_goal, u64(now, "/gc/heap/goal:bytes"));
      EXPECT_EQ(pacer->gogc, std::int32_t(i64(now, "gogc")));
      EXPECT_EQ(pacer->memory_limit, i64(now, "memlimit"));
      if (now.count("/gc/gogc:percent")) {
        EXPECT_EQ(pacer->gogc, std::int32_t(i64(now, "/gc/gogc:percent")));
        EXPECT_EQ(std::uint64_t(pacer->memory_limit), u64(now, "/gc/gomemlimit:bytes"));
      }
      if (phase > 0) {
        const std::uint64_t from = u64(before, "/gc/cycles/total:gc-cycles");
        const Window w = window_of(seen, from, total);
        EXPECT_EQ(w.cycles, std::uint64_t(total - from));
        EXPECT_EQ(w.unknown, 0u);
        EXPECT_EQ(w.forced, u64(now, "/gc/cycles/forced:gc-cycles") -
                                u64(before, "/gc/cycles/forced:gc-cycles"));
        EXPECT_EQ(w.automatic, u64(now, "/gc/cycles/automatic:gc-cycles") -
                                   u64(before, "/gc/cycles/automatic:gc-cycles"));
        std::map<std::string, int> forced_by;
        for (const auto& c : seen) {
          if (c.number <= from || c.number > total) continue;
          if (c.cause.trigger == GcTrigger::kRuntimeGC ||
              c.cause.trigger == GcTrigger::kFreeOSMemory)
            ++forced_by[c.cause.caller + " (" + gc_trigger_name(c.cause.trigger) + ")"];
          // GOGC and GOMEMLIMIT the fixture set before the phase's cycles.
          ASSERT_TRUE(c.figures.gogc && c.figures.memory_limit && c.figures.heap_goal);
          // Except the heap cycle the fixture's quiesce() waits for: SetGCPercent(-1) commits
          // GOGC=off before it waits, so that cycle ends with GOGC -1 in force, truly.
          const bool awaited = c.number == total && c.cause.trigger == GcTrigger::kHeap &&
                               (phase == 1 || phase == 3);
          if (!awaited || *c.figures.gogc != -1) {
            EXPECT_EQ(*c.figures.gogc, std::int32_t(i64(now, "gogc"))) << "gc " << c.number;
          }
          EXPECT_EQ(*c.figures.memory_limit, i64(now, "memlimit"));
          EXPECT_GT(*c.figures.heap_marked, 0u);
          EXPECT_GT(*c.figures.heap_live_start, 0u);
        }
        EXPECT_EQ(forced_by, kForcedByPhase[phase]);
        expect_cpu_near(w.assist_s, now, before, "/cpu/classes/gc/mark/assist:cpu-seconds");
        expect_cpu_near(w.dedicated_s, now, before, "/cpu/classes/gc/mark/dedicated:cpu-seconds");
        expect_cpu_near(w.idle_s, now, before, "/cpu/classes/gc/mark/idle:cpu-seconds");
      }
      before = now;
    }
    fixture.write_line();
    EXPECT_EQ(fixture.wait(), 0);
    ++runs;
  }
  EXPECT_GT(runs, 0) << "no gccauses fixture was built";
}

}  // namespace
}  // namespace goscry
