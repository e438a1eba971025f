// runtime.NumGoroutine() read from outside (agent/goruntime/goroutine_count.h), the watch
// tier's live count, against the program's own runtime.NumGoroutine(): the churn fixture
// prints it at quiet points, after goroutines were created, ended and freed onto the free-g
// lists, for every toolchain and every variant (stripped binaries find the globals in code).
#include <gtest/gtest.h>

#include <string>

#include "agent/goruntime/go_process.h"
#include "agent/goruntime/goroutine_count.h"
#include "tests/support/child_process.h"
#include "tests/support/churn_state.h"
#include "tests/support/fixtures.h"

namespace goscry {
namespace {

using testing::all_fixtures;
using testing::ChildProcess;
using testing::parse_churn_state;

// Reads the count at each of the fixture's quiet points until it ends; returns how many
// states were compared.
int compare_at_each_state(const testing::Fixture& f, const std::vector<std::string>& env) {
  ChildProcess child({f.path}, env);
  auto ready = child.read_line();
  if (ready != "ready") {
    ADD_FAILURE() << "fixture said: " << ready.value_or("(nothing)");
    return 0;
  }
  auto process = GoProcess::open(child.pid());
  if (!process) {
    ADD_FAILURE() << process.error().message;
    return 0;
  }
  auto counter = GoroutineCounter::locate((*process)->binary(), (*process)->layout(),
                                          (*process)->bias());
  if (!counter) {
    ADD_FAILURE() << counter.error().message;
    return 0;
  }
  int states = 0;
  child.write_line();
  while (auto line = child.read_line()) {
    if (!line->starts_with("state ")) break;
    const auto truth = parse_churn_state(*line);
    // The fixture waits for a line here: nothing changes while this reads.
    auto n = counter->read((*process)->process());
    if (!n) {
      ADD_FAILURE() << truth.label << ": " << n.error().message;
      return states;
    }
    EXPECT_EQ(*n, truth.goroutines) << truth.label;
    ++states;
    child.write_line();
  }
  return states;
}

TEST(GoroutineCount, EqualsNumGoroutineOnEveryToolchainAndVariant) {
  const auto fixtures = all_fixtures("churn");
  ASSERT_FALSE(fixtures.empty());
  for (const auto& f : fixtures) {
    SCOPED_TRACE(f.label());
    EXPECT_EQ(compare_at_each_state(f, {}), 4);  // begin, grown, shrunk, end
  }
}

// The busy mode frees thousands of goroutines onto the Ps' and the scheduler's free lists
// (allglen far above the live count) before its quiet points.
TEST(GoroutineCount, SubtractsThousandsOfFreeGoroutines) {
  for (const auto& f : all_fixtures("churn")) {
    if (f.variant != "plain") continue;
    SCOPED_TRACE(f.label());
    EXPECT_EQ(compare_at_each_state(f, {"CHURN_MODE=busy"}), 3);  // busy, half, end
  }
}

}  // namespace
}  // namespace goscry
