// `goscry top` and `goscry gc` end to end, run as a user runs them, against the churn
// fixture's own ground truth (runtime.NumGoroutine, its per-site counters, runtime/metrics)
// and against the torture fixture, which must come out of it unharmed.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/base/monotonic_clock.h"
#include "agent/probes/attacher.h"
#include "agent/proc/privileges.h"
#include "symbolizer/runtime_layout.h"
#include "tests/support/child_process.h"
#include "tests/support/churn_state.h"
#include "tests/support/fixtures.h"
#include "tests/support/goscry_verb.h"
#include "tests/support/top_reports.h"

namespace goscry {
namespace {

using nlohmann::json;
using testing::all_fixtures;
using testing::ChildProcess;
using testing::ChurnState;
using testing::Fixture;
using testing::for_each_watched_churn;
using testing::goscry_binary;
using testing::expect_top_matches;
using testing::next_state;
using testing::report_after;
using testing::site_of;

// Every variant: plain, stripped (addresses from the pclntab and machine code), PIE (load
// bias), cgo (external linking).
bool probed_variant(const Fixture&) { return true; }

// `goscry top` streaming JSON through the churn fixture's phases: goroutines alive before
// attach (spawnEarly's, from allgs), created and ended after (the probes), per site.
TEST(TopVerb, FollowsNumGoroutineAndEverySiteThroughThePhases) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  auto follow = [](const Fixture&, ChildProcess& fixture, ChildProcess& top) {
    fixture.write_line();
    ChurnState begin;
    for (int phase = 0; phase < 4; ++phase) {
      ChurnState st = next_state(fixture);
      if (phase == 0) begin = st;
      json report = report_after(top, monotonic_ns());
      ASSERT_TRUE(report.is_object()) << top.rest_of_stderr();
      expect_top_matches(report, st, begin, true);
      EXPECT_EQ(report["lost"].get<std::uint64_t>(), 0u);
      EXPECT_EQ(report["goroutines"]["alive_at_attach"].get<std::uint64_t>(), 26u);  // main + 25
      fixture.write_line();
    }
    // The fixture ends: top says so in one line and exits 0.
    EXPECT_EQ(fixture.wait(), 0);
    top.rest_of_stdout();
    EXPECT_NE(top.rest_of_stderr().find("goscry top: process " + std::to_string(fixture.pid()) +
                                        " exited"),
              std::string::npos);
    EXPECT_EQ(top.wait(), 0);
  };
  for_each_watched_churn(probed_variant, "top",
                         {"--interval", "100ms", "--format", "json", "--top", "50"}, follow);
}

TEST(TopVerb, AttachedWhileGoroutinesComeAndGoAtFullSpeed) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  testing::attach_while_goroutines_come_and_go("idle", 0);
}

// `goscry top --once` attached afresh at each quiescent point: everything alive comes from
// the allgs snapshot, and equals NumGoroutine.
TEST(TopVerb, OnceCountsWhatIsAliveLikeNumGoroutine) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  for (const auto& f : all_fixtures("churn")) {
    if (!probed_variant(f)) continue;
    SCOPED_TRACE(f.label());
    ChildProcess fixture({f.path});
    ASSERT_EQ(fixture.read_line(), "ready");
    fixture.write_line();
    for (int phase = 0; phase < 4; ++phase) {
      ChurnState st = next_state(fixture);
      auto r = testing::run_command({goscry_binary(), "top", "--pid",
                                     std::to_string(fixture.pid()), "--once", "--interval",
                                     "50ms", "--format", "json", "--top", "50"});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      json report = json::parse(r.out, nullptr, false);
      ASSERT_TRUE(report.is_object()) << r.out;
      expect_top_matches(report, st, st, false);
      fixture.write_line();
    }
  }
}

std::vector<std::uint64_t> gc_pauses_of(const json& cycle) {
  std::vector<std::uint64_t> v;
  if (cycle["whole"].get<bool>()) v.push_back(cycle["sweep_termination_ns"].get<std::uint64_t>());
  for (const auto& r : cycle["mark_restarts_ns"]) v.push_back(r.get<std::uint64_t>());
  v.push_back(cycle["mark_termination_ns"].get<std::uint64_t>());
  return v;
}

// `goscry gc --format json`: one report per cycle; their number is the runtime's
// /gc/cycles/total, and their pauses fill the runtime's own pause histogram bucket by
// bucket (1.22+ exactly; <= 1.21 within 10 %, docs/go-runtime.md). Ctrl-C ends it with a
// summary.
TEST(GcVerb, ReportsEveryCycleAndPauseLikeRuntimeMetrics) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  auto check = [](const Fixture& f, ChildProcess& fixture, ChildProcess& gc) {
    auto minor = go_minor_version(std::string_view(f.go_version));
    ASSERT_TRUE(minor);
    fixture.write_line();
    ChurnState begin, st;
    for (int phase = 0; phase < 4; ++phase) {
      st = next_state(fixture);
      if (phase == 0) begin = st;
      if (phase < 3) fixture.write_line();
    }
    gc.signal(SIGINT);
    std::vector<json> cycles, others;
    json summary;
    while (auto line = gc.read_line()) {
      json j = json::parse(*line, nullptr, false);
      ASSERT_TRUE(j.is_object()) << *line;
      if (j["report"] == "gc_cycle") cycles.push_back(j);
      if (j["report"] == "stw_pause") others.push_back(j);
      if (j["report"] == "gc_summary") summary = j;
    }
    EXPECT_EQ(gc.wait(), 0);
    EXPECT_EQ(cycles.size(), st.gc_cycles - begin.gc_cycles);
    std::vector<std::uint64_t> pauses;
    for (const auto& c : cycles) {
      EXPECT_TRUE(c["whole"].get<bool>());
      EXPECT_GT(c["mark_phase_ns"].get<std::uint64_t>(), 0u);
      for (auto p : gc_pauses_of(c)) pauses.push_back(p);
    }
    EXPECT_EQ(pauses.size(), st.pauses - begin.pauses);
    const auto misplaced = testing::misplaced_pauses(pauses, begin, st);
    if (*minor >= 22)
      EXPECT_EQ(misplaced, 0u) << pauses.size() << " pauses";
    else
      EXPECT_LE(misplaced * 10, pauses.size()) << pauses.size() << " pauses";
    ASSERT_EQ(others.size(), 1u);
    EXPECT_EQ(others[0]["reason"], "read mem stats");
    ASSERT_TRUE(summary.is_object());
    EXPECT_EQ(summary["cycles"].get<std::uint64_t>(), cycles.size());
    EXPECT_EQ(summary["mark_termination"]["count"].get<std::uint64_t>(), cycles.size());
    EXPECT_FALSE(summary["target_exited"].get<bool>());
    EXPECT_EQ(summary["lost"].get<std::uint64_t>(), 0u);
  };
  for_each_watched_churn(probed_variant, "gc", {"--format", "json"}, check);
}

}  // namespace
}  // namespace goscry
