// What `goscry record` costs a CPU-bound target: the `profiled throughput` fixture runs a
// fixed loop on one locked thread and reports work done per second of its own CPU time
// and per wall second; rounds alone, under goscry record at 99 Hz and at 19 Hz are
// interleaved and repeated (medians) because the machine is shared. Also goscry's own CPU
// time and peak RSS while recording, and what a 999 Hz record loses.
//
//   ninja -C build record_bench && sudo build/tests/bench/record_bench [ROUNDS] [SECONDS]
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include <unistd.h>

#include "tests/bench/bench_support.h"

using namespace goscry;

namespace {

struct Round {
  double per_cpu_s = 0, per_s = 0;
  double goscry_cpu = 0;  // seconds
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
  auto line = target.read_line(600000);
  if (!line) throw std::runtime_error("profiled printed nothing");
  r.per_cpu_s = bench::value_of(*line, "work_per_cpu_s");
  r.per_s = bench::value_of(*line, "work_per_s");
  if (goscry) {
    // goscry stops when the target exits: read its CPU and RSS before it does.
    for (auto l = goscry->read_err_line(); l; l = goscry->read_err_line()) {
      if (l->find("sampling stopped") != std::string::npos) {
        r.goscry_cpu = bench::cpu_seconds(goscry->pid());
        r.goscry_rss_kib = bench::peak_rss_kib(goscry->pid());
      }
      if (l->find(" samples in ") != std::string::npos) r.goscry_summary = *l;
    }
    goscry->wait();
    std::remove(out.c_str());
  }
  target.wait();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
  const int secs = argc > 2 ? std::atoi(argv[2]) : 4;
  const std::string path = bench::fixture("profiled");
  std::map<int, std::vector<double>> per_cpu, per_wall, cpu;
  std::map<int, std::uint64_t> rss;
  for (int i = 0; i < rounds; ++i) {
    for (int hz : {0, 99, 19}) {
      auto r = run_once(path, hz, secs);
      per_cpu[hz].push_back(r.per_cpu_s);
      per_wall[hz].push_back(r.per_s);
      cpu[hz].push_back(r.goscry_cpu);
      rss[hz] = std::max(rss[hz], r.goscry_rss_kib);
      std::printf("round %d, %s: %.1f work/cpu-s, %.1f work/s; goscry %.3f CPU s, %llu KiB\n",
                  i + 1, hz ? (std::to_string(hz) + " Hz").c_str() : "alone", r.per_cpu_s,
                  r.per_s, r.goscry_cpu, static_cast<unsigned long long>(r.goscry_rss_kib));
    }
  }
  const double a_cpu = bench::median(per_cpu[0]), a_wall = bench::median(per_wall[0]);
  for (int hz : {99, 19}) {
    std::printf("%d Hz: throughput ratio %.4f per CPU second, %.4f per wall second (goal >= 0.99 "
                "at 99 Hz); goscry CPU %.2f%% of a core (%.3f s in %d s), peak RSS %.1f MiB\n",
                hz, bench::median(per_cpu[hz]) / a_cpu, bench::median(per_wall[hz]) / a_wall,
                100 * bench::median(cpu[hz]) / secs, bench::median(cpu[hz]), secs,
                rss[hz] / 1024.0);
  }
  auto hot = run_once(path, 999, secs);
  std::printf("999 Hz: throughput ratio %.4f per CPU second; goscry: %s\n", hot.per_cpu_s / a_cpu,
              hot.goscry_summary.c_str());
  return 0;
}
