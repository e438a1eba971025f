// Work per CPU-second of a goroutine-heavy target under the agent's two tiers (docs/agent.md
// "Goroutine tiers"): spawnbench creates and ends SPAWNBENCH_N goroutines from GOMAXPROCS
// workers, alone, under a watch-tier TargetWatch (GC probes only, the live count read from
// memory once a second) and under a trace-tier one (the creation and exit probes too). The
// figure is goroutines per CPU-second of the target (its threads' run time, schedstat), so
// other load on the shared machine changes it less than wall time would. Rounds are
// interleaved and the medians compared: watch/alone (issue 15's goal >= 0.995) and
// trace/alone.
//
//   ninja -C build tier_cost_bench && sudo build/tests/bench/tier_cost_bench [ROUNDS]
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "agent/probes/target_watch.h"
#include "tests/bench/bench_support.h"
#include "tests/support/recording.h"

using namespace goscry;

namespace {

constexpr int kGoroutines = 2000000;

// A TargetWatch refreshed once a second, as the agent's BPF source does, on its own thread.
struct Watching {
  std::unique_ptr<TargetWatch> watch;
  std::atomic<bool> stop{false};
  std::thread refresher;
  ~Watching() {
    stop = true;
    if (refresher.joinable()) refresher.join();
  }
};

std::shared_ptr<void> watch(int pid, GoroutineTier tier) {
  auto w = std::make_shared<Watching>();
  auto opened = TargetWatch::open(pid, nullptr, tier);
  if (!opened) throw std::runtime_error(opened.error().message);
  w->watch = std::move(*opened);
  w->refresher = std::thread([w = w.get()] {
    while (!w->stop) {
      (void)w->watch->refresh();
      for (int i = 0; i < 10 && !w->stop; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  return w;
}

// Goroutines per CPU-second of the target.
double run_once(const std::string& path, const char* mode) {
  testing::ChildProcess target({path}, {"SPAWNBENCH_N=" + std::to_string(kGoroutines)});
  if (target.read_line() != "ready") throw std::runtime_error("spawnbench did not start");
  std::shared_ptr<void> watcher;
  if (std::string(mode) == "watch") watcher = watch(target.pid(), GoroutineTier::kWatch);
  if (std::string(mode) == "trace") watcher = watch(target.pid(), GoroutineTier::kTrace);
  const double cpu0 = testing::schedstat_seconds(target.pid());
  target.write_line();
  if (!target.read_line(600000)) throw std::runtime_error("spawnbench printed nothing");
  const double cpu = testing::schedstat_seconds(target.pid()) - cpu0;
  return kGoroutines / cpu;
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
  const std::string path = bench::fixture("spawnbench");
  std::vector<double> alone, watched, traced;
  for (int r = 0; r < rounds; ++r) {
    alone.push_back(run_once(path, "alone"));
    watched.push_back(run_once(path, "watch"));
    traced.push_back(run_once(path, "trace"));
    std::printf("round %d: goroutines per CPU-second: alone %.0f  watch %.0f  trace %.0f\n", r + 1,
                alone.back(), watched.back(), traced.back());
  }
  const double a = bench::median(alone), w = bench::median(watched), t = bench::median(traced);
  std::printf("median goroutines per CPU-second: alone %.0f, watch %.0f, trace %.0f\n", a, w, t);
  std::printf("watch/alone = %.4f (goal >= 0.995), trace/alone = %.4f\n", w / a, t / a);
  return 0;
}
