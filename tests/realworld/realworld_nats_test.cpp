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
// PauseNs (it has no Prometheus /metrics), `record` against its own /debug/pprof/profile over
// the same window; then the agent at a quiet moment against its own goroutine count.
TEST(RealworldNats, GcRecordAndAgentAgreeWithItsOwnUnderLoad) {
  SKIP_OR_FAIL_WITHOUT_PRIVILEGES();
  START_SUITE_SERVER(server, testing::start_nats);
  testing::expect_agrees_under_load(*server, std::chrono::seconds(6));
  testing::expect_agent_agrees(*server);
}

}  // namespace
}  // namespace goscry
