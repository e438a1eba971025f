// goscry on a Go program nobody here wrote, run as its users run it: Debian's Prometheus
// (go1.19, stripped, ~50 MB), checked against its own runtime's answers at the same moment
// (its /debug/pprof/goroutine?debug=2).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "tests/support/fixtures.h"
#include "tests/support/prometheus_server.h"
#include "tests/support/traceback_sandwich.h"

namespace goscry {
namespace {

using testing::run_command;

TEST(RealworldPrometheus, DumpIsByteIdenticalToItsOwnDebug2) {
  if (run_command({"sh", "-c", "command -v prometheus"}).exit_code != 0) {
    if (testing::under_ci()) FAIL() << "prometheus is not installed (scripts/setup.sh installs it)";
    GTEST_SKIP() << "prometheus is not installed (scripts/setup.sh installs it)";
  }
  testing::PrometheusServer prom(testing::free_port());
  const std::string url =
      "http://127.0.0.1:" + std::to_string(prom.port()) + "/debug/pprof/goroutine?debug=2";
  ASSERT_NE(testing::wait_for_http(url, 30), "") << "prometheus did not answer within 30 s";
  // A goroutine may move between the three reads; one that reads the same in the program's
  // tracebacks before and after goscry's must read the same in goscry's. Three tries, since
  // it may also move and come back (its scrape loop runs every 200 ms).
  auto sandwich =
      testing::dump_between_own_tracebacks(prom.pid(), [&] { return testing::http_get(url); });
  EXPECT_GE(sandwich.compared, 15u) << "too few goroutines held still to compare";
  EXPECT_EQ(sandwich.differences, "") << sandwich.compared << " goroutines compared";
  std::printf("prometheus: %zu goroutines compared, %zu byte-identical\n", sandwich.compared,
              sandwich.identical);
}

}  // namespace
}  // namespace goscry
