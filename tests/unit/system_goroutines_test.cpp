// One system-goroutine rule: which start functions count as the runtime's own, pinned by
// name, and checked on a live fixture of every toolchain against what the program itself
// says: runtime.NumGoroutine() equals the goroutines goscry reads that the rule does not
// call system ones (the finalizer goroutine, GC workers, the sweeper and scavenger exist by
// then and must all be left out, main must not).
#include "agent/goruntime/system_goroutines.h"

#include <gtest/gtest.h>

#include <string>

#include "agent/goruntime/go_process.h"
#include "agent/goruntime/goroutine_reader.h"
#include "tests/support/fixtures.h"
#include "tests/support/live_process.h"

namespace goscry {
namespace {

TEST(SystemGoroutines, PinsWhichStartFunctionsAreTheRuntimes) {
  for (const char* f :
       {"runtime.runfinq", "runtime.bgsweep", "runtime.bgscavenge", "runtime.forcegchelper",
        "runtime.gcBgMarkWorker", "runtime.runCleanups",
        "runtime.unique_runtime_registerUniqueMapCleanup.func1"})
    EXPECT_TRUE(is_system_start_function(f)) << f;
  for (const char* f : {"runtime.main", "runtime.corostart", "runtime.handleAsyncEvent",
                        "runtime/pprof.profileWriter", "runtime/trace.Start.func1", "main.main",
                        "main.worker", "net/http.(*Server).Serve", ""})
    EXPECT_FALSE(is_system_start_function(f)) << f;
}

// "goroutines 1" -> 1.
int printed_count(const std::string& output) {
  const auto at = output.find("goroutines ");
  EXPECT_NE(at, std::string::npos) << output;
  return at == std::string::npos ? -1 : std::stoi(output.substr(at + 11));
}

TEST(SystemGoroutines, UserGoroutinesAreNumGoroutine) {
  for (const auto& f : testing::all_fixtures("hello")) {
    SCOPED_TRACE(f.label());
    auto live = testing::LiveProcess::start({f.path, "wait"});
    ASSERT_TRUE(live) << live.error().message;
    auto go = GoProcess::open((*live)->pid());
    ASSERT_TRUE(go) << go.error().message;
    auto list = read_goroutines(**go, {.stacks = false});
    ASSERT_TRUE(list) << list.error().message;
    int user = 0, system = 0;
    for (const auto& g : list->goroutines) (is_system_goroutine(**go, g) ? system : user)++;
    EXPECT_EQ(user, printed_count((*live)->output()));
    // The runtime starts its own before main.main: the rule must have seen some.
    EXPECT_GT(system, 0);
  }
}

}  // namespace
}  // namespace goscry
