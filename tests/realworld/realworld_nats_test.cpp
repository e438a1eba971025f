// goscry on NATS server (github.com/nats-io/nats-server/v2, built stripped with the local
// Go by scripts/build-realworld.sh) run as its users run it, with JetStream and its
// net/http/pprof endpoint (-profile), a few clients connected: checked against its own
// /debug/pprof/goroutine?debug=2.
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

TEST(RealworldNats, DumpAndTopAgreeWithItsOwnRuntime) {
  START_SUITE_SERVER(nats, testing::start_nats);
  // Clients that stay connected, each subscribed: a read and a write loop of the server's
  // for each.
  std::vector<RawConnection> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back(nats->client_port());
    ASSERT_TRUE(clients.back().ok()) << "nats-server refused client " << i;
    ASSERT_TRUE(clients.back().send("CONNECT {\"verbose\":false}\r\nSUB goscry." +
                                    std::to_string(i) + " 1\r\nPING\r\n"));
    ASSERT_TRUE(clients.back().read_until("PONG\r\n", std::chrono::seconds(10)))
        << "client " << i << " got no PONG";
  }
  testing::expect_goscry_agrees_with_own_runtime("nats-server", nats->pid(), nats->pprof_port(),
                                                 "/debug/pprof/goroutine?debug=2", 15);
}

// Under batches of publishes to a subscribed subject: `goscry gc` against its NumGC and
// PauseNs (it has no Prometheus /metrics); then the agent at a quiet moment against its own
// goroutine count.
//
// Its CPU profile is not compared. On an idle machine the two agree (4 runs of 4, largest
// difference 1.8-5.6 points, both ways, within the comparison's noise; Syscall6's old
// 25.7 % against 16 % was the comparison dropping pprof's small nodes, fixed in
// recording.cpp). Beside other work (4 busy loops, as under ctest -j2) they do not: 1 run
// in 3 failed, and in every run Go's own profile charged 19-25 % to runtime.lock2 + unlock2
// where goscry charged 9-12 %, and 6-12 % to Syscall6 where goscry charged 9-11 %. A third
// profiler beside both, `perf record -e task-clock` (per-thread CPU time, hrtimer), sided
// with goscry on the locks in 3 runs of 3 (lock2 + unlock2 9-14 %, against goscry's 9-11 %
// and Go's own 18-22 %), so the gap looks like runtime/pprof's under load, not goscry's;
// but its mechanism is not known, and until it is this comparison is not asserted.
TEST(RealworldNats, GcAndAgentAgreeWithItsOwnUnderLoad) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  START_SUITE_SERVER(server, testing::start_nats);
  testing::expect_agrees_under_load(*server, std::chrono::seconds(6),
                                    testing::CpuProfileCheck::kSkip);
  testing::expect_agent_agrees(*server);
}

}  // namespace
}  // namespace goscry
