// goscry on a Go program nobody here wrote, run as its users run it: Debian's Prometheus
// (go1.19, stripped, ~50 MB), checked against its own runtime's answers at the same moment
// (its /debug/pprof/goroutine?debug=2).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>

#include "tests/support/fixtures.h"
#include "tests/support/prometheus_server.h"

namespace goscry {
namespace {

using testing::run_command;

bool under_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

// Each goroutine's whole block of a traceback ("goroutine N [state]:" to the blank line),
// by id.
std::map<std::string, std::string> blocks(const std::string& text) {
  std::map<std::string, std::string> out;
  for (std::size_t at = 0; at < text.size();) {
    std::size_t end = text.find("\n\n", at);
    if (end == std::string::npos) end = text.size();
    const std::string block = text.substr(at, end - at);
    if (block.starts_with("goroutine "))
      out[block.substr(10, block.find(' ', 10) - 10)] = block;
    at = end + 2;
  }
  return out;
}

std::string own_debug2(const testing::PrometheusServer& p) {
  auto r = run_command({"curl", "-sf", "--max-time", "10",
                        "http://127.0.0.1:" + std::to_string(p.port()) +
                            "/debug/pprof/goroutine?debug=2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

// The goroutines that did not change between the program's two tracebacks, compared with
// goscry's dump taken between them. Returns the differences, empty when every one agrees.
std::string differences(const std::string& before, const std::string& dump,
                        const std::string& after, std::size_t& compared) {
  const auto own = blocks(before), again = blocks(after), ours = blocks(dump);
  std::string diff;
  compared = 0;
  for (const auto& [id, block] : own) {
    auto still = again.find(id);
    if (still == again.end() || still->second != block) continue;  // it moved meanwhile
    ++compared;
    auto it = ours.find(id);
    if (it == ours.end())
      diff += "goroutine " + id + " missing from the dump; its own:\n" + block + "\n\n";
    else if (it->second != block)
      diff += "its own:\n" + block + "\ngoscry's:\n" + it->second + "\n\n";
  }
  return diff;
}

TEST(RealworldPrometheus, DumpIsByteIdenticalToItsOwnDebug2) {
  if (run_command({"sh", "-c", "command -v prometheus"}).exit_code != 0) {
    if (under_ci()) FAIL() << "prometheus is not installed (scripts/setup.sh installs it)";
    GTEST_SKIP() << "prometheus is not installed (scripts/setup.sh installs it)";
  }
  testing::PrometheusServer prom(testing::free_port());
  std::string before;
  for (int i = 0; i < 300 && before.empty(); ++i) {  // up to 30 s to start
    auto r = run_command({"curl", "-sf", "--max-time", "10",
                          "http://127.0.0.1:" + std::to_string(prom.port()) +
                              "/debug/pprof/goroutine?debug=2"});
    if (r.exit_code == 0) before = r.out;
    else std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(before.empty()) << "prometheus did not answer within 30 s";
  // A goroutine may move between the three reads; one that reads the same in the program's
  // tracebacks before and after goscry's must read the same in goscry's. Three tries, since
  // it may also move and come back (its scrape loop runs every 200 ms).
  std::string diff;
  std::size_t compared = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (attempt) before = own_debug2(prom);
    auto r = run_command({testing::goscry_binary(), "dump", "--pid", std::to_string(prom.pid())});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    diff = differences(before, r.out, own_debug2(prom), compared);
    if (diff.empty()) break;
  }
  EXPECT_GE(compared, 15u) << "too few goroutines held still to compare";
  EXPECT_EQ(diff, "") << compared << " goroutines compared";
  std::printf("prometheus: %zu goroutines compared byte for byte\n", compared);
}

}  // namespace
}  // namespace goscry
