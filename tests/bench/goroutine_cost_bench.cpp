// Cost per goroutine: spawnbench creates and ends goroutines as fast as it can, alone,
// under the bare-uprobe floor (goscry_noop at every probe point), and under `goscry top`.
// Runs are interleaved and repeated (median) because the machine is shared. Prints the
// added ns per goroutine of each and their ratio; the goal is goscry <= 1.3 x floor.
//
//   ninja -C build goroutine_cost_bench && sudo build/tests/bench/goroutine_cost_bench [ROUNDS]
#include <cstdio>
#include <cstdlib>

#include "tests/bench/bench_support.h"

using namespace goscry;

namespace {

enum class Mode { Alone, Floor, Goscry };

double run_once(const std::string& path, Mode mode) {
  return bench::spawnbench_ns_per_goroutine(path, [&](int pid) -> std::shared_ptr<void> {
    if (mode == Mode::Floor) return bench::attach_floor(pid, path);
    if (mode == Mode::Goscry) return bench::start_goscry(pid);
    return nullptr;
  });
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
  const std::string path = bench::fixture("spawnbench");
  std::vector<double> alone, floor, goscry;
  for (int r = 0; r < rounds; ++r) {
    alone.push_back(run_once(path, Mode::Alone));
    floor.push_back(run_once(path, Mode::Floor));
    goscry.push_back(run_once(path, Mode::Goscry));
    std::printf("round %d: alone %.1f  floor %.1f  goscry %.1f ns/goroutine\n", r + 1,
                alone.back(), floor.back(), goscry.back());
  }
  const double a = bench::median(alone), f = bench::median(floor), g = bench::median(goscry);
  std::printf("median ns/goroutine: alone %.1f, bare uprobes %.1f, goscry %.1f\n", a, f, g);
  std::printf("added ns/goroutine: floor %.1f, goscry %.1f; goscry/floor = %.2f (goal <= 1.30)\n",
              f - a, g - a, (g - a) / (f - a));
  return 0;
}
