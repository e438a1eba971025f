// What `goscry record` costs a CPU-bound target: the `profiled throughput` fixture runs a
// fixed loop on one locked thread and reports work done per second of its own CPU time
// and per wall second; rounds alone, under goscry record at 99 Hz and at 19 Hz are
// interleaved and repeated (medians) because the machine is shared. Also goscry's own CPU
// time and peak RSS while recording, and what a 999 Hz record loses.
//
//   ninja -C build record_bench && sudo build/tests/bench/record_bench [ROUNDS] [SECONDS]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <cstdlib>
#include <map>
#include <string>

#include <unistd.h>

#include "tests/bench/bench_support.h"
#include "tests/support/recording.h"

using namespace goscry;

namespace {

struct Round {
  double per_cpu_s = 0, per_s = 0;
  double goscry_cpu = 0;     // CPU seconds goscry used in goscry_window wall seconds
  double goscry_window = 1;
  std::uint64_t goscry_rss_kib = 0;
  std::string goscry_summary;  // goscry's last line: samples, lost
};

// One run of the fixture for `secs`, with goscry recording it at `hz` (0: alone).
Round run_once(const std::string& path, int hz, int secs) {
  testing::ChildProcess target({path, "throughput", std::to_string(secs) + "s"});
  if (target.read_line() != "ready") throw std::runtime_error("profiled did not start");
  std::unique_ptr<testing::ChildProcess> goscry;
  Round r;
  const std::string out = "/tmp/goscry-record-bench-" + std::to_string(getpid()) + ".folded";
  if (hz > 0) {
    goscry = std::make_unique<testing::ChildProcess>(std::vector<std::string>{
        testing::goscry_binary(), "record", "--pid", std::to_string(target.pid()), "--hz",
        std::to_string(hz), "-d", std::to_string(secs + 30) + "s", "-o", out});
  }
  if (goscry) {
    // goscry's steady state: from the end of its set-up (the "recording" line) to 1 s
    // before the target stops, so its start-up (binary, BPF load) and the final
    // symbolization are not counted as a per-second cost.
    for (auto l = goscry->read_err_line(); l; l = goscry->read_err_line())
      if (l->find("recording pid") != std::string::npos) break;
    const double cpu0 = testing::schedstat_seconds(goscry->pid());  // ns, not ticks
    const auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(secs * 1000 - 1500));
    r.goscry_cpu = testing::schedstat_seconds(goscry->pid()) - cpu0;
    r.goscry_window = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.goscry_rss_kib = bench::peak_rss_kib(goscry->pid());
  }
  auto line = target.read_line(600000);
  if (!line) throw std::runtime_error("profiled printed nothing");
  r.per_cpu_s = bench::value_of(*line, "work_per_cpu_s");
  r.per_s = bench::value_of(*line, "work_per_s");
  if (goscry) {
    // goscry stops when the target exits; its last line has the samples and losses.
    for (auto l = goscry->read_err_line(); l; l = goscry->read_err_line())
      if (l->find(" samples in ") != std::string::npos) r.goscry_summary = *l;
    goscry->wait();
    std::remove(out.c_str());
  }
  target.wait();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
  const int secs = std::max(3, argc > 2 ? std::atoi(argv[2]) : 4);
  const std::string path = bench::fixture("profiled");
  std::map<int, std::vector<double>> per_cpu, per_wall, cpu;  // cpu: share of a core
  std::map<int, std::uint64_t> rss;
  for (int i = 0; i < rounds; ++i) {
    for (int hz : {0, 99, 19}) {
      auto r = run_once(path, hz, secs);
      per_cpu[hz].push_back(r.per_cpu_s);
      per_wall[hz].push_back(r.per_s);
      cpu[hz].push_back(r.goscry_cpu / r.goscry_window);
      rss[hz] = std::max(rss[hz], r.goscry_rss_kib);
      std::printf("round %d, %s: %.1f work/cpu-s, %.1f work/s; goscry %.3f CPU s in %.1f s, %llu KiB\n",
                  i + 1, hz ? (std::to_string(hz) + " Hz").c_str() : "alone", r.per_cpu_s,
                  r.per_s, r.goscry_cpu, r.goscry_window,
                  static_cast<unsigned long long>(r.goscry_rss_kib));
    }
  }
  const double a_cpu = bench::median(per_cpu[0]), a_wall = bench::median(per_wall[0]);
  for (int hz : {99, 19}) {
    std::printf("%d Hz: throughput ratio %.4f per CPU second, %.4f per wall second (goal >= 0.99 "
                "at 99 Hz); goscry CPU %.2f%% of a core while recording, peak RSS %.1f MiB\n",
                hz, bench::median(per_cpu[hz]) / a_cpu, bench::median(per_wall[hz]) / a_wall,
                100 * bench::median(cpu[hz]), rss[hz] / 1024.0);
  }
  auto hot = run_once(path, 999, secs);
  // goscry names what it lost only when something was (", lost: N samples (ring full), U
  // user stacks ..."): samples, or stacks whose samples it kept.
  const auto& said = hot.goscry_summary;
  const char* verdict = said.find(", lost: ") == std::string::npos ? "nothing lost"
                        : said.find(", lost: 0 samples") == std::string::npos
                            ? "SAMPLES LOST"
                            : "no sample lost, some stacks lost";
  std::printf("999 Hz: throughput ratio %.4f per CPU second; goscry CPU %.2f%% of a core; %s; "
              "goscry says: %s\n",
              hot.per_cpu_s / a_cpu, 100 * hot.goscry_cpu / hot.goscry_window, verdict,
              said.c_str());
  std::printf("(per CPU second: the target's work per second of its own thread's CPU time, what "
              "the sampling costs it; per wall second also moves with the machine's load)\n");
  return 0;
}
