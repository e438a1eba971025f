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

#include "agent/probes/attacher.h"
#include "agent/proc/privileges.h"
#include "symbolizer/runtime_layout.h"
#include "tests/support/child_process.h"
#include "tests/support/churn_state.h"
#include "tests/support/fixtures.h"
#include "tests/support/goscry_verb.h"

namespace goscry {
namespace {

using nlohmann::json;
using testing::all_fixtures;
using testing::ChildProcess;
using testing::ChurnState;
using testing::Fixture;
using testing::for_each_watched_churn;
using testing::goscry_binary;
using testing::parse_churn_state;

// Fails under CI=true, skips otherwise: a missing privilege must not pass silently in CI.
#define SKIP_OR_FAIL_WITHOUT_PRIVILEGES()                              \
  if (auto why = missing_privileges()) {                               \
    const char* ci = std::getenv("CI");                                \
    if (ci && std::string(ci) == "true") FAIL() << *why;               \
    GTEST_SKIP() << *why;                                              \
  }

std::uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000000ull + std::uint64_t(ts.tv_nsec);
}

// Every variant: plain, stripped (addresses from the pclntab and machine code), PIE (load
// bias), cgo (external linking).
bool probed_variant(const Fixture&) { return true; }

ChurnState next_state(ChildProcess& fixture) {
  auto line = fixture.read_line();
  EXPECT_TRUE(line && line->starts_with("state ")) << "fixture said: " << line.value_or("EOF");
  return parse_churn_state(line.value_or(""));
}

// The entry of `sites` for the `go` statement in `function` ("main.spawnShort ...").
const json* site_of(const json& sites, const std::string& function) {
  for (const auto& s : sites)
    if (s["site"].get<std::string>() == function ||
        s["site"].get<std::string>().starts_with(function + " "))
      return &s;
  return nullptr;
}

// Checks one top report against the fixture's state: live = NumGoroutine, and per site
// live, created and exited since attach (`begin` is the state right after attach).
void expect_top_matches(const json& top, const ChurnState& st, const ChurnState& begin,
                        bool since_attach) {
  SCOPED_TRACE(st.label);
  EXPECT_EQ(top["goroutines"]["live"].get<std::int64_t>(), st.goroutines);
  std::uint64_t created = 0, exited = 0;
  for (const auto& [name, truth] : st.sites) {
    const json* s = site_of(top["sites_by_live"], name);
    const std::int64_t live = std::int64_t(truth.created) - std::int64_t(truth.exited);
    if (!s) {
      EXPECT_EQ(live, 0) << name << " missing from " << top["sites_by_live"].dump();
      continue;
    }
    EXPECT_EQ((*s)["live"].get<std::int64_t>(), live) << name;
    if (!since_attach) continue;
    const auto& b = begin.sites.at(name);
    EXPECT_EQ((*s)["created"].get<std::uint64_t>(), truth.created - b.created) << name;
    EXPECT_EQ((*s)["exited"].get<std::uint64_t>(), truth.exited - b.exited) << name;
    created += truth.created - b.created;
    exited += truth.exited - b.exited;
  }
  if (since_attach) {
    EXPECT_EQ(top["goroutines"]["created"].get<std::uint64_t>(), created);
    EXPECT_EQ(top["goroutines"]["exited"].get<std::uint64_t>(), exited);
  }
}

// The first top report sampled after `after_ns` (reports come every interval).
json report_after(ChildProcess& top, std::uint64_t after_ns) {
  for (;;) {
    auto line = top.read_line(30000);
    if (!line) return json();
    json j = json::parse(*line, nullptr, false);
    if (j.is_object() && j.value("monotonic_ns", std::uint64_t(0)) > after_ns) return j;
  }
}

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
      json report = report_after(top, now_ns());
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

// `goscry top` attached while the fixture creates and ends goroutines as fast as it can:
// some are born while the probes go in or the snapshot of allgs is read, some alive before
// end after, some the probes see born are read by the snapshot too. Every one must count
// once: at each quiescent point after, live = NumGoroutine and per site, and the ends
// between two points are what the fixture counted.
TEST(TopVerb, AttachedWhileGoroutinesComeAndGoAtFullSpeed) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  for (const auto& f : all_fixtures("churn")) {
    if (f.variant != "plain") continue;  // the other variants change where, not what
    SCOPED_TRACE(f.label());
    ChildProcess fixture({f.path}, {"CHURN_MODE=busy"});
    ASSERT_EQ(fixture.read_line(), "ready");
    ChildProcess top({goscry_binary(), "top", "--pid", std::to_string(fixture.pid()),
                      "--interval", "100ms", "--format", "json", "--top", "50"});
    ASSERT_TRUE(attached(top));
    usleep(200000);  // churn on under the probes
    fixture.write_line();
    json before;
    ChurnState prev;
    for (int phase = 0; phase < 3; ++phase) {
      ChurnState st = next_state(fixture);
      json report = report_after(top, now_ns());
      ASSERT_TRUE(report.is_object()) << top.rest_of_stderr();
      expect_top_matches(report, st, st, false);
      EXPECT_EQ(report["lost"].get<std::uint64_t>(), 0u);
      if (phase == 0) {
        const json* parked = site_of(report["sites_by_live"], "main.spawnBusyParked");
        ASSERT_NE(parked, nullptr);
        EXPECT_GT(st.sites["main.spawnBusyParked"].created, 0u);
      } else {
        // Between two quiescent points the probes know every goroutine.
        for (const auto& [name, truth] : st.sites) {
          const json* s = site_of(report["sites_by_live"], name);
          const json* b = site_of(before["sites_by_live"], name);
          const std::uint64_t exited = s ? (*s)["exited"].get<std::uint64_t>() : 0;
          const std::uint64_t exited_before = b ? (*b)["exited"].get<std::uint64_t>() : 0;
          EXPECT_EQ(exited - exited_before, truth.exited - prev.sites[name].exited) << name;
        }
      }
      before = report;
      prev = st;
      fixture.write_line();
    }
    EXPECT_EQ(fixture.wait(), 0);
  }
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
