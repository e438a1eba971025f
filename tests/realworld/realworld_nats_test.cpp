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
// Its CPU profile is not compared yet: under this test's load goscry's and its own
// /debug/pprof/profile disagree beyond the 5 points (two runs: Syscall6 25.7 % and 27.7 %
// in goscry's against 16.0 % and 16.6 % in its own; runtime.nanotime 6-9 % in its own, where
// goscry charges the samples in the vDSO to an unnamed address, 4.5-5.2 %). Run by hand
// with a Python client putting the same load on it, the two agreed on Syscall6 (26.6 % and
// 24.4 %), so the difference comes with this test's conditions and is not understood;
// the vDSO frame is goscry's to fix (a sample in the vDSO is charged by Go to the Go
// function that called it). A load paced at one batch every 2 ms gave too few samples
// (47 in its own profile) to tell.
TEST(RealworldNats, GcAndAgentAgreeWithItsOwnUnderLoad) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  START_SUITE_SERVER(server, testing::start_nats);
  testing::expect_agrees_under_load(*server, std::chrono::seconds(6),
                                    testing::CpuProfileCheck::kSkip);
  testing::expect_agent_agrees(*server);
}

}  // namespace
}  // namespace goscry
