// The two tiers of goroutine tracking (docs/agent.md "Goroutine tiers") on one churn
// fixture at once: a watch and a trace, each on a loader of its own, so the kernel's run
// counts of each loader's programs are that tier's alone. At every quiet point both say
// what the program's runtime.NumGoroutine() says; the watch's creation and exit programs
// never ran (0 traps per goroutine) while its GC programs did, and the trace's creation
// program ran once per goroutine created since attach (the count works).
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "agent/proc/privileges.h"
#include "agent/probes/bpf_loader.h"
#include "agent/probes/target_watch.h"
#include "tests/support/child_process.h"
#include "tests/support/churn_state.h"
#include "tests/support/fixtures.h"

namespace goscry {
namespace {

using testing::ChildProcess;

#define SKIP_OR_FAIL_WITHOUT_BPF(loader)                                \
  if (!loader) {                                                        \
    const char* ci = std::getenv("CI");                                 \
    if (!missing_privileges() || (ci && std::string(ci) == "true"))     \
      FAIL() << loader.error().message;                                 \
    GTEST_SKIP() << loader.error().message;                             \
  }

std::uint64_t runs(const BpfLoader& l, RuntimeProgram p) {
  auto s = l.program_stats(p);
  EXPECT_TRUE(s) << (s ? "" : s.error().message);
  return s ? s->runs : 0;
}

TEST(GoroutineTiers, WatchCountsLikeTraceWithoutATrapPerGoroutine) {
  // The kernel counts runs only while the statistics are on: this fd keeps them on.
  const int stats = bpf_enable_stats(BPF_STATS_RUN_TIME);
  auto probe = BpfLoader::open();
  SKIP_OR_FAIL_WITHOUT_BPF(probe);
  probe = {};
  ASSERT_GE(stats, 0) << "bpf_enable_stats";
  for (const auto& f : testing::all_fixtures("churn")) {
    if (f.variant != "plain") continue;
    SCOPED_TRACE(f.label());
    auto wl = BpfLoader::open();
    auto tl = BpfLoader::open();
    ASSERT_TRUE(wl && tl);
    ChildProcess child({f.path});
    ASSERT_EQ(child.read_line(), "ready");
    auto watch = TargetWatch::open(child.pid(), wl->get(), GoroutineTier::kWatch);
    ASSERT_TRUE(watch) << watch.error().message;
    auto trace = TargetWatch::open(child.pid(), tl->get(), GoroutineTier::kTrace);
    ASSERT_TRUE(trace) << trace.error().message;
    EXPECT_EQ((*watch)->tier(), GoroutineTier::kWatch);
    EXPECT_GT((*trace)->probe_count(), (*watch)->probe_count());
    // The watch's plan has no uprobe of the per-goroutine programs at all.
    auto bin = GoBinary::open(f.path);
    ASSERT_TRUE(bin);
    auto plan = plan_probes(**bin, f.path, child.pid(), f.go_version, GoroutineTier::kWatch);
    ASSERT_TRUE(plan) << plan.error().message;
    for (const auto& u : plan->uprobes) {
      EXPECT_NE(u.program, RuntimeProgram::NewprocRet);
      EXPECT_NE(u.program, RuntimeProgram::GoroutineExit);
    }
    EXPECT_EQ(plan->uprobes.size(), (*watch)->probe_count());
    std::uint64_t created = 0;
    child.write_line();
    int states = 0;
    while (auto line = child.read_line()) {
      if (!line->starts_with("state ")) break;
      const auto truth = testing::parse_churn_state(*line);
      SCOPED_TRACE(truth.label);
      ASSERT_TRUE((*watch)->update_sites());
      ASSERT_TRUE((*trace)->refresh());
      ASSERT_TRUE((*watch)->live_goroutines());
      EXPECT_EQ(*(*watch)->live_goroutines(), truth.goroutines);
      EXPECT_EQ((*trace)->goroutines().totals().live, truth.goroutines);
      created = 0;
      for (const auto& [site, s] : truth.sites)
        if (site != "main.spawnEarly") created += s.created;  // the rest came after attach
      EXPECT_EQ(runs(**wl, RuntimeProgram::NewprocRet), 0u);
      EXPECT_EQ(runs(**wl, RuntimeProgram::GoroutineExit), 0u);
      EXPECT_GE(runs(**tl, RuntimeProgram::NewprocRet), created);
      ++states;
      child.write_line();
    }
    EXPECT_EQ(states, 4);
    EXPECT_GT(created, 0u);
    // The GC probes are on in both: the fixture's runtime.GC() calls ran them.
    EXPECT_GT(runs(**wl, RuntimeProgram::GcMarkTermination), 0u);
  }
  close(stats);
}

}  // namespace
}  // namespace goscry
