// Why GC cycles ran, beyond gc_causes_test: the 2-minute timer and who allocated.
//
// The 2-minute timer as a GC cause, without waiting 2 minutes: the runtime's forcegcperiod
// (runtime/proc.go: "a variable for testing purposes") is shortened to 200 ms in the gctimer
// fixture's memory by this test — not by goscry, which writes nothing to a target — and
// restored after. In gctimer nothing else can start a cycle (GOGC at 2^30, no runtime.GC
// after the first), so every cycle runtime/metrics counts as automatic is the timer's: goscry
// must call each of them `time` (docs/verbs/gc.md), and count as many as
// /gc/cycles/automatic grew, none forced.
#include <gtest/gtest.h>
#include <sys/uio.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "agent/base/monotonic_clock.h"
#include "agent/probes/target_watch.h"
#include "tests/support/child_process.h"
#include "tests/support/fixtures.h"
#include "tests/support/goscry_verb.h"
#include "tests/support/live_process.h"

namespace goscry {
namespace {

using testing::all_fixtures;
using testing::ChildProcess;

// runtime.forcegcperiod's address in a non-PIE binary, from `go tool nm` (the oracle of
// where the symbol is, not goscry's symbolizer); 0 when absent.
std::uint64_t forcegcperiod_address(const std::string& binary) {
  auto r = testing::run_command({testing::go_command(), "tool", "nm", binary});
  for (const auto& line : testing::split_lines(r.out)) {
    std::istringstream in(line);
    std::string address, kind, name;
    if (in >> address >> kind >> name && name == "runtime.forcegcperiod")
      return std::stoull(address, nullptr, 16);
  }
  return 0;
}

bool write_i64(pid_t pid, std::uint64_t address, std::int64_t value) {
  iovec local{&value, sizeof value};
  iovec remote{reinterpret_cast<void*>(address), sizeof value};
  return process_vm_writev(pid, &local, 1, &remote, 1, 0) == ssize_t(sizeof value);
}

// "state /gc/cycles/automatic:gc-cycles=N ..." -> name -> N
std::map<std::string, std::uint64_t> state_of(ChildProcess& fixture) {
  fixture.write_line();
  std::map<std::string, std::uint64_t> st;
  auto line = fixture.read_line();
  EXPECT_TRUE(line && line->starts_with("state ")) << line.value_or("(no line)");
  std::istringstream in(line.value_or(""));
  std::string word;
  in >> word;
  while (in >> word)
    if (auto eq = word.find('='); eq != std::string::npos)
      st[word.substr(0, eq)] = std::stoull(word.substr(eq + 1));
  return st;
}

TEST(GcTimer, CyclesOfTheTimeTriggerAreCalledTimeLikeRuntimeMetricsCountsThem) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  int runs = 0;
  for (const auto& f : all_fixtures("gctimer")) {
    if (f.variant != "plain") continue;  // non-PIE: nm's address is the run-time one
    SCOPED_TRACE(f.label());
    const std::uint64_t period = forcegcperiod_address(f.path);
    ASSERT_NE(period, 0u) << "runtime.forcegcperiod not in " << f.path;
    ChildProcess fixture({f.path});
    ASSERT_EQ(fixture.read_line(), "ready");
    auto watch = TargetWatch::open(fixture.pid());
    ASSERT_TRUE(watch) << watch.error().message;
    std::vector<GcCycle> seen;
    auto collect = [&](const GcUpdate& u) {
      if (u.cycle) seen.push_back(*u.cycle);
    };
    const auto before = state_of(fixture);
    ASSERT_TRUE(write_i64(fixture.pid(), period, 200'000'000));
    // Until goscry has seen three timer cycles (bounded: 30 s for ~1 s of work).
    auto timed = [&] {
      int n = 0;
      for (const auto& c : seen) n += c.cause.trigger == GcTrigger::kTime;
      return n;
    };
    for (auto deadline = monotonic_ns() + 30'000'000'000; timed() < 3 && monotonic_ns() < deadline;)
      ASSERT_TRUE((*watch)->poll(100, collect));
    ASSERT_TRUE(write_i64(fixture.pid(), period, 2 * 60 * std::int64_t(1'000'000'000)));
    const auto after = state_of(fixture);
    const std::uint64_t from = before.at("/gc/cycles/total:gc-cycles");
    const std::uint64_t to = after.at("/gc/cycles/total:gc-cycles");
    for (auto deadline = monotonic_ns() + 30'000'000'000;
         (seen.empty() || seen.back().number < to) && monotonic_ns() < deadline;)
      ASSERT_TRUE((*watch)->poll(100, collect));
    std::map<GcTrigger, std::uint64_t> by_trigger;
    for (const auto& c : seen)
      if (c.number > from && c.number <= to) ++by_trigger[c.cause.trigger];
    EXPECT_GE(by_trigger[GcTrigger::kTime], 3u);
    EXPECT_EQ(by_trigger[GcTrigger::kTime], after.at("/gc/cycles/automatic:gc-cycles") -
                                                before.at("/gc/cycles/automatic:gc-cycles"));
    EXPECT_EQ(after.at("/gc/cycles/forced:gc-cycles"), before.at("/gc/cycles/forced:gc-cycles"));
    EXPECT_EQ(by_trigger.size(), 1u) << "a cycle of another cause in a program that has none";
    fixture.close_stdin();
    EXPECT_EQ(fixture.wait(), 0);
    ++runs;
  }
  EXPECT_GT(runs, 0) << "no gctimer fixture was built";
}

// Who allocated over a `goscry gc` run: heapsites -churn allocates only from main.churnOne
// and main.churnThree, 1 KiB objects in the proportion 1:3, so its heap-triggered cycles'
// "why" summary names those two, with 25 % and 75 % of the bytes (within 10 %).
TEST(GcWhy, SummaryNamesTheTopAllocationSitesOverTheWindow) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  auto fixtures = all_fixtures("heapsites");
  ASSERT_FALSE(fixtures.empty());
  auto proc = testing::LiveProcess::start({fixtures.back().path, "-churn", "-rate", "4096"});
  ASSERT_TRUE(proc) << proc.error().message;
  const std::string pid = std::to_string((*proc)->pid());
  auto json = testing::run_command(
      {testing::goscry_binary(), "gc", "--pid", pid, "-d", "3s", "--format", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  nlohmann::json summary;
  for (const auto& line : testing::split_lines(json.out)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j["report"] == "gc_summary") summary = j;
  }
  ASSERT_TRUE(summary.is_object()) << json.out;
  ASSERT_TRUE(summary["alloc_sites"].is_array()) << summary.dump();
  ASSERT_GE(summary["alloc_sites"].size(), 2u) << summary.dump();
  EXPECT_EQ(summary["alloc_sites"][0]["function"], "main.churnThree") << summary.dump();
  EXPECT_EQ(summary["alloc_sites"][1]["function"], "main.churnOne") << summary.dump();
  EXPECT_NEAR(summary["alloc_sites"][0]["share"].get<double>(), 0.75, 0.075) << summary.dump();
  EXPECT_NEAR(summary["alloc_sites"][1]["share"].get<double>(), 0.25, 0.025) << summary.dump();
  auto text = testing::run_command({testing::goscry_binary(), "gc", "--pid", pid, "-d", "1s"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("; top allocation sites over the window: main.churnThree "),
            std::string::npos)
      << text.out;
}

// A program whose linker turned memory profiling off: the summary says the sites are
// unknown and why, the rest of the report stands.
TEST(GcWhy, WithoutMemoryProfilingTheSitesAreUnknownAndSaySo) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  auto fixtures = all_fixtures("gctimer");
  ASSERT_FALSE(fixtures.empty());
  ChildProcess fixture({fixtures.back().path});
  ASSERT_EQ(fixture.read_line(), "ready");
  auto text = testing::run_command(
      {testing::goscry_binary(), "gc", "--pid", std::to_string(fixture.pid()), "-d", "200ms"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("why: allocation sites unknown: "), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("MemProfileRate is 0"), std::string::npos) << text.out;
  fixture.close_stdin();
  EXPECT_EQ(fixture.wait(), 0);
}

}  // namespace
}  // namespace goscry
