// Torn stacks: goroutines that run between goscry's read of their g and of their stack must
// never be shown with a stack they cannot have. The waker fixture's 20 goroutines sleep
// 200 µs and then work over the stack area the sleep's frames had; 100 dumps of it, on
// every toolchain, must hold no wrong stack reported as consistent — the oracle is the
// fixture's own code: a sleeper under [sleep] is exactly time.Sleep <- main.nap <-
// main.sleeper, and any other stack it shows ends in main.sleeper — while most stacks are
// still shown (a reader that gave up on every goroutine would pass the first check).
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/fixtures.h"
#include "tests/support/go_traceback.h"
#include "tests/support/live_process.h"

namespace goscry {
namespace {

using testing::all_fixtures;
using testing::LiveProcess;
using testing::parse_traceback;
using testing::run_command;

constexpr const char* kTornLine = "goroutine kept running while goscry read it";

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

struct TornFigures {
  int shown = 0, wrong = 0, torn = 0, running = 0;
};

// Checks one dump's sleepers against what the fixture's code allows.
void check_dump(const std::string& text, TornFigures& fig, std::string& first_wrong) {
  const std::vector<std::string> sleeping = {"time.Sleep", "main.nap", "main.sleeper"};
  for (const auto& [id, g] : parse_traceback(text)) {
    if (!g.created_by.starts_with("main.main")) continue;  // a sleeper
    if (g.functions.empty()) {
      if (g.state == "running") ++fig.running;
      continue;  // torn (counted from the text) or running: no stack shown
    }
    ++fig.shown;
    const bool ok = g.state == "sleep" ? g.functions == sleeping
                                       : g.functions.back() == "main.sleeper";
    if (!ok) {
      ++fig.wrong;
      if (first_wrong.empty()) {
        first_wrong = g.header + "\n";
        for (const auto& f : g.functions) first_wrong += "  " + f + "\n";
      }
    }
  }
  fig.torn += int(count(text, kTornLine));
}

TEST(TornStacks, NoStackAGoroutineCannotHaveIsReportedConsistent) {
  auto fixtures = all_fixtures("waker");
  ASSERT_FALSE(fixtures.empty()) << "no waker fixtures were built";
  for (const auto& f : fixtures) {
    if (f.variant != "plain") continue;
    SCOPED_TRACE(f.label());
    auto proc = LiveProcess::start({f.path});
    ASSERT_TRUE(proc) << proc.error().message;
    TornFigures fig;
    std::string first_wrong;
    constexpr int kDumps = 100;
    for (int i = 0; i < kDumps; ++i) {
      auto r = run_command({testing::goscry_binary(), "dump", "--pid",
                            std::to_string((*proc)->pid())});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      check_dump(r.out, fig, first_wrong);
    }
    std::printf("%s: %d dumps, %d sleeper stacks shown, %d wrong, %d torn, %d running\n",
                f.label().c_str(), kDumps, fig.shown, fig.wrong, fig.torn, fig.running);
    EXPECT_EQ(fig.wrong, 0) << "a stack the goroutine cannot have, reported as consistent:\n"
                            << first_wrong;
    // 20 sleepers x 100 dumps; they sleep most of the time: nearly all are shown.
    EXPECT_GT(fig.shown, 20 * kDumps * 8 / 10)
        << fig.torn << " torn and " << fig.running << " running of " << 20 * kDumps;
  }
}

// JSON says why a stack is missing, as the text does in its place: every goroutine without
// frames has a reason, every goroutine with frames has none; a torn one (consistent false)
// says so, and a running one says it runs. The sleepers run a third of the time on fewer
// CPUs than there are sleepers: 20 dumps catch some running, on every toolchain.
TEST(TornStacks, JsonSaysWhyAStackIsMissing) {
  for (const auto& f : all_fixtures("waker")) {
    if (f.variant != "plain") continue;
    SCOPED_TRACE(f.label());
    auto proc = LiveProcess::start({f.path});
    ASSERT_TRUE(proc) << proc.error().message;
    int running = 0, torn = 0;
    for (int i = 0; i < 20; ++i) {
      auto r = run_command({testing::goscry_binary(), "dump", "--format", "json", "--pid",
                            std::to_string((*proc)->pid())});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      const auto j = nlohmann::json::parse(r.out);
      for (const auto& g : j.at("goroutines")) {
        const auto& why = g.at("stack_unavailable");
        EXPECT_EQ(g.at("frames").empty(), !why.is_null()) << g.dump();
        if (!g.at("consistent").get<bool>()) {
          ++torn;
          EXPECT_EQ(why, "kept running while goscry read it") << g.dump();
        } else if (g.at("status") == "running") {
          ++running;
          EXPECT_EQ(why, "running on other thread") << g.dump();
        }
      }
    }
    std::printf("%s: 20 JSON dumps, %d running, %d torn\n", f.label().c_str(), running, torn);
    EXPECT_GT(running, 0);
  }
}

}  // namespace
}  // namespace goscry
