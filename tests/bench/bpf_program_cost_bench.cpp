// What goscry's per-goroutine BPF programs cost, run by run, from the kernel's own BPF
// statistics (run_time_ns / run_cnt, on while this benchmark holds a bpf_enable_stats fd):
// spawnbench creates and ends goroutines as fast as it can, once under the floor
// (goscry_noop at every probe point) and once watched the way `goscry top` watches it
// (TargetWatch, in this process). The body of a program costs its ns per run minus the
// no-op's; their sum per goroutine is what goscry adds over the floor, the trap excepted.
// Less noisy than goroutine_cost_bench on a shared machine: only the programs' own time
// is counted, not the target's.
//
//   ninja -C build bpf_program_cost_bench && sudo build/tests/bench/bpf_program_cost_bench [ROUNDS]
#include <bpf/bpf.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "agent/probes/target_watch.h"
#include "tests/bench/bench_support.h"

using namespace goscry;

namespace {

double per_run(const ProgramStats& before, const ProgramStats& after) {
  const std::uint64_t runs = after.runs - before.runs;
  return runs ? double(after.run_time_ns - before.run_time_ns) / double(runs) : 0;
}

ProgramStats stats_of(const BpfLoader& loader, RuntimeProgram p) {
  auto s = loader.program_stats(p);
  if (!s) throw std::runtime_error(s.error().message);
  return *s;
}

// Starts spawnbench, lets `attach` put its probes on it, runs it to the end.
template <typename Attach>
void run_spawnbench(const std::string& path, Attach&& attach) {
  testing::ChildProcess target({path}, {"SPAWNBENCH_N=200000"});
  if (target.read_line() != "ready") throw std::runtime_error("spawnbench did not start");
  [[maybe_unused]] auto keep = attach(target.pid());  // the probes, until the end
  target.write_line();
  if (!target.read_line(600000)) throw std::runtime_error("spawnbench printed nothing");
}

// ns per run of the no-op program at every probe point.
double floor_round(const std::string& path) {
  std::unique_ptr<bench::Floor> floor;
  ProgramStats before;
  run_spawnbench(path, [&](int pid) {
    floor = bench::attach_floor(pid, path);
    before = stats_of(*floor->loader, RuntimeProgram::Noop);
    return 0;
  });
  return per_run(before, stats_of(*floor->loader, RuntimeProgram::Noop));
}

struct GoscryRound {
  double create_ns, exit_ns;
};

GoscryRound goscry_round(const std::string& path) {
  auto loader = BpfLoader::open();
  if (!loader) throw std::runtime_error(loader.error().message);
  const ProgramStats c0 = stats_of(**loader, RuntimeProgram::NewprocRet);
  const ProgramStats e0 = stats_of(**loader, RuntimeProgram::GoroutineExit);
  run_spawnbench(path, [&](int pid) {
    auto w = TargetWatch::open(pid, loader->get());
    if (!w) throw std::runtime_error(w.error().message);
    return std::move(*w);
  });
  return {per_run(c0, stats_of(**loader, RuntimeProgram::NewprocRet)),
          per_run(e0, stats_of(**loader, RuntimeProgram::GoroutineExit))};
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
  const std::string path = bench::fixture("spawnbench");
  const int stats = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (stats < 0) {
    std::fprintf(stderr, "cannot turn the BPF statistics on (root needed)\n");
    return 1;
  }
  std::vector<double> noop, create, exit, added;
  for (int r = 0; r < rounds; ++r) {
    noop.push_back(floor_round(path));
    const GoscryRound g = goscry_round(path);
    create.push_back(g.create_ns);
    exit.push_back(g.exit_ns);
    added.push_back(g.create_ns + g.exit_ns - 2 * noop.back());
    std::printf("round %d: no-op %.0f  creation %.0f  exit %.0f ns/run; bodies %.0f ns/goroutine\n",
                r + 1, noop.back(), create.back(), exit.back(), added.back());
  }
  std::printf("median ns/run: no-op %.0f, creation %.0f, exit %.0f; "
              "bodies over the no-op %.0f ns per goroutine\n",
              bench::median(noop), bench::median(create), bench::median(exit),
              bench::median(added));
  close(stats);
  return 0;
}
