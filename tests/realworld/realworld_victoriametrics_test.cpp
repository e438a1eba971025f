// goscry on VictoriaMetrics single-node (github.com/VictoriaMetrics/VictoriaMetrics, built
// stripped with Go 1.27 through GOTOOLCHAIN by scripts/build-realworld.sh) run as its users
// run it, with a few keep-alive HTTP clients connected: checked against its own
// /debug/pprof/goroutine?debug=2 (its net/http/pprof handlers, on its one HTTP port).
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/goscry_verb.h"
#include "tests/support/prometheus_server.h"
#include "tests/support/raw_http.h"
#include "tests/support/realworld_checks.h"
#include "tests/support/realworld_server.h"
#include "tests/support/traceback_sandwich.h"

namespace goscry {
namespace {

using testing::RawConnection;

TEST(RealworldVictoriaMetrics, DumpAndTopAgreeWithItsOwnRuntime) {
  START_SUITE_SERVER(vm, testing::start_victoria_metrics);
  const int port = vm->client_port();
  const std::string debug2 = "/debug/pprof/goroutine?debug=2";
  // Clients that keep their connections open after a request, as scrapers and dashboards
  // do: a goroutine of its HTTP server waits on each.
  std::vector<RawConnection> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back(port);
    ASSERT_TRUE(clients.back().ok()) << "victoria-metrics refused client " << i;
    ASSERT_TRUE(clients.back().send(testing::get_request("/health")));
    auto r = clients.back().responses(1, std::chrono::seconds(10));
    ASSERT_FALSE(r.empty()) << "client " << i << " got no answer";
    ASSERT_EQ(testing::status_of(r[0]), 200) << r[0];
  }
  testing::expect_goscry_agrees_with_own_runtime("victoria-metrics", vm->pid(), port, debug2, 30);
}

// Under inserts and range queries: `goscry gc` against its NumGC, PauseNs and
// go_gc_duration_seconds, `goscry record` against its /debug/pprof/profile over the same
// window; then the agent at a quiet moment against its own goroutine count and go_goroutines.
TEST(RealworldVictoriaMetrics, GcCpuProfileAndAgentAgreeWithItsOwnUnderLoad) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  START_SUITE_SERVER(server, testing::start_victoria_metrics);
  testing::expect_agrees_under_load(*server, std::chrono::seconds(6));
  testing::expect_agent_agrees(*server);
}

}  // namespace
}  // namespace goscry
