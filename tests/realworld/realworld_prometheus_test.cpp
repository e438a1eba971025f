// goscry on a Go program nobody here wrote, run as its users run it: Debian's Prometheus
// (go1.19, stripped, ~50 MB), checked against its own runtime's answers at the same moment
// (its /debug/pprof/goroutine?debug=2).
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tests/support/fixtures.h"
#include "tests/support/goscry_verb.h"
#include "tests/support/prometheus_server.h"
#include "tests/support/realworld_checks.h"
#include "tests/support/realworld_server.h"
#include "tests/support/traceback_sandwich.h"

namespace goscry {
namespace {

TEST(RealworldPrometheus, DumpAndLiveCountAgreeWithItsOwnRuntime) {
  START_SUITE_SERVER(prom, testing::start_prometheus);
  // Its scrape loop runs every 200 ms: the suite's checks compare only goroutines and
  // counts that held still around goscry's reads.
  testing::expect_goscry_agrees_with_own_runtime("prometheus", prom->pid(), prom->pprof_port(),
                                                 "/debug/pprof/goroutine?debug=2", 15);
}

// Under a loop of PromQL range queries on loopback: `goscry gc` against its NumGC, PauseNs and
// go_gc_duration_seconds, `goscry record` against its /debug/pprof/profile over the same
// window; then the agent at a quiet moment against its own goroutine count.
TEST(RealworldPrometheus, GcCpuProfileAndAgentAgreeWithItsOwnUnderLoad) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  START_SUITE_SERVER(server, testing::start_prometheus);
  testing::expect_agrees_under_load(*server, std::chrono::seconds(6));
  testing::expect_agent_agrees(*server);
}

}  // namespace
}  // namespace goscry
