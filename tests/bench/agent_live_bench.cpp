// The real agent (BPF trackers and leak detector on) tracking live fixtures: its CPU and
// RSS over a watch period, and the time /metrics takes with every BPF series present.
// Needs root. The fixtures are the leaks fixture's busy controls (a worker pool, bursts,
// tickers, pub/sub, keep-alive HTTP): steady goroutine churn, no leak.
//   ninja -C build agent_live_bench goscry && build/tests/bench/agent_live_bench [SECONDS]
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/fixtures.h"
#include "tests/support/live_process.h"
#include "tests/support/processes.h"

namespace {

using namespace goscry::testing;
using Clock = std::chrono::steady_clock;

// utime + stime of pid, seconds.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; rest >> field; ++i)
    if (i == 14 || i == 15) ticks += std::stod(field);
  return ticks / double(sysconf(_SC_CLK_TCK));
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  const int seconds = argc > 1 ? std::atoi(argv[1]) : 60;
  std::string path;
  for (const auto& f : all_fixtures("leaks"))
    if (f.variant == "plain") path = f.path;
  if (path.empty()) return std::fprintf(stderr, "no leaks fixture built\n"), 1;
  std::vector<std::unique_ptr<LiveProcess>> targets;
  std::vector<std::string> args;
  for (const char* mode : {"pool", "burst", "ticker", "pubsub", "keepalive"}) {
    auto p = LiveProcess::start({path, "-rate", "20", mode});
    if (!p) return std::fprintf(stderr, "%s\n", p.error().message.c_str()), 1;
    args.insert(args.end(), {"--pid", std::to_string((*p)->pid())});
    targets.push_back(std::move(*p));
  }
  AgentProcess agent(args);
  if (!agent.wait_listening()) return std::fprintf(stderr, "%s\n", agent.log().c_str()), 1;
  httplib::Client client("127.0.0.1", agent.port());
  auto series = [&] {
    auto r = client.Get("/metrics");
    size_t n = 0;
    if (r)
      for (size_t at = 0; (at = r->body.find("\ngoscry_goroutines{", at)) != std::string::npos; ++at) ++n;
    return n;
  };
  const auto attach_deadline = Clock::now() + std::chrono::seconds(60);
  while (series() < targets.size() && Clock::now() < attach_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::printf("%zu targets attached\n", series());

  const double cpu0 = cpu_seconds(agent.pid());
  const size_t rss0 = agent.rss_bytes();
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = cpu_seconds(agent.pid()) - cpu0;
  const size_t rss1 = agent.rss_bytes();
  std::printf("agent over %.0f s: CPU %.2f s (%.2f %% of one core), RSS %.1f MiB -> %.1f MiB\n",
              wall, cpu, 100 * cpu / wall, double(rss0) / 1048576, double(rss1) / 1048576);

  // /metrics with every BPF series: 100 sequential scrapes (the render is what varies).
  std::vector<double> ms;
  size_t bytes = 0, lines = 0;
  for (int i = 0; i < 100; ++i) {
    auto s = Clock::now();
    auto r = client.Get("/metrics");
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
    if (r) {
      bytes = r->body.size();
      lines = size_t(std::count(r->body.begin(), r->body.end(), '\n'));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::printf("/metrics: %zu bytes, %zu lines; scrape p50 %.2f ms, p99 %.2f ms\n", bytes, lines,
              percentile(ms, 0.5), percentile(ms, 0.99));
  return 0;
}
