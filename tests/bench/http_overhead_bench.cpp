// A loopback HTTP server (fixture httpserver) under a load generator (fixture httpload),
// alone, under bare empty uprobes at goscry's probe points (the floor: what the uprobe
// traps cost by themselves), and with `goscry top` attached: requests/s of each over
// requests/s alone (goal >= 0.97 for goscry), and goscry's own CPU (% of one core) and peak
// RSS while it tracks the server (goals < 2 % and < 64 MiB). Runs interleaved, median of
// ROUNDS. net/http starts a goroutine per connection and one per request (background
// read), so every request passes the creation and exit probes.
//
//   ninja -C build http_overhead_bench && sudo build/tests/bench/http_overhead_bench [ROUNDS] [SECONDS]
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "tests/bench/bench_support.h"

using namespace goscry;

namespace {

struct Run {
  double rps = 0;
  double goscry_cpu_percent = 0;
  std::uint64_t goscry_peak_kib = 0;
};

enum class Mode { Alone, Floor, Goscry };

Run run_once(const std::string& server_path, const std::string& load_path, Mode mode,
             int seconds) {
  const bool with_goscry = mode == Mode::Goscry;
  testing::ChildProcess server({server_path});
  auto ready = server.read_line();
  if (!ready || !ready->starts_with("ready ")) throw std::runtime_error("httpserver: no port");
  const std::string port = ready->substr(6);
  std::unique_ptr<testing::ChildProcess> goscry;
  std::unique_ptr<bench::Floor> floor;
  if (with_goscry) goscry = bench::start_goscry(server.pid());
  if (mode == Mode::Floor) floor = bench::attach_floor(server.pid(), server_path);
  const double cpu0 = with_goscry ? bench::cpu_seconds(goscry->pid()) : 0;
  const auto t0 = std::chrono::steady_clock::now();
  testing::ChildProcess load({load_path, port}, {"HTTPLOAD_SECONDS=" + std::to_string(seconds)});
  const std::string out = load.rest_of_stdout();
  if (load.wait() != 0) throw std::runtime_error("httpload failed: " + out);
  Run r;
  r.rps = bench::value_of(out, "requests_per_second");
  if (with_goscry) {
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.goscry_cpu_percent = 100 * (bench::cpu_seconds(goscry->pid()) - cpu0) / wall;
    r.goscry_peak_kib = bench::peak_rss_kib(goscry->pid());
    goscry->signal(SIGINT);
    goscry->rest_of_stdout();
    goscry->wait();
  }
  server.close_stdin();
  server.wait();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 3;
  const int seconds = argc > 2 ? std::atoi(argv[2]) : 5;
  const std::string server = bench::fixture("httpserver"), load = bench::fixture("httpload");
  std::vector<double> without, floor, with, cpu;
  std::uint64_t peak = 0;
  for (int i = 0; i < rounds; ++i) {
    without.push_back(run_once(server, load, Mode::Alone, seconds).rps);
    floor.push_back(run_once(server, load, Mode::Floor, seconds).rps);
    Run r = run_once(server, load, Mode::Goscry, seconds);
    with.push_back(r.rps);
    cpu.push_back(r.goscry_cpu_percent);
    peak = std::max(peak, r.goscry_peak_kib);
    std::printf("round %d: %.0f req/s alone, %.0f under bare uprobes, %.0f under goscry (goscry "
                "%.2f%% CPU, peak RSS %.1f MiB)\n",
                i + 1, without.back(), floor.back(), with.back(), cpu.back(),
                double(r.goscry_peak_kib) / 1024);
  }
  const double a = bench::median(without), f = bench::median(floor), w = bench::median(with);
  std::printf("median req/s: alone %.0f, bare uprobes %.0f (ratio %.3f), with goscry %.0f "
              "(ratio %.3f, goal >= 0.97; %.3f of the floor)\n",
              a, f, f / a, w, w / a, w / f);
  std::printf("goscry: %.2f%% of a core (median; goal < 2%%), peak RSS %.1f MiB (goal < 64)\n",
              bench::median(cpu), double(peak) / 1024);
  return 0;
}
