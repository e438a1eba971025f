// Figures for `goscry dump` and `goscry leaks` (issue 6), measured in one run:
//   - dump time (read allgs + g structs + stacks, symbolize, format the traceback) for
//     targets with 1,000 / 10,000 / 100,000 parked goroutines (goal: 100,000 in < 1 s);
//   - how long --pause keeps a 10,000-goroutine target stopped (goal: < 50 ms);
//   - leak detection latency at 1 leak/s, from the first leaked goroutine to the report
//     (goal: <= 30 s);
//   - the `goscry dump` verb itself, as a user runs it, at 100,000 goroutines: wall time and
//     peak RSS of --format json (goals < 2 s, < 150 MiB) and text (< 100 MiB), and the
//     target's stop under --pause (<= 300 ms) (issue 13, streams not trees).
// usage: dump_bench [FIXTURE_DIR_VERSION]   (scripts/bench-dump.sh builds and runs it)
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>
#include <vector>

#include <chrono>
#include <thread>
#include <cstdio>
#include <optional>
#include <string>

#include "agent/goruntime/go_process.h"
#include "agent/goruntime/goroutine_formats.h"
#include "agent/goruntime/goroutine_reader.h"
#include "agent/leaks/leak_detector.h"
#include "agent/proc/target_pause.h"
#include "tests/bench/bench_support.h"
#include "tests/support/fixtures.h"
#include "tests/support/live_process.h"

namespace {

using goscry::bench::Clock;
using goscry::bench::cpu_ms;
using goscry::bench::ms_since;

int bench_dump(const std::string& path, int n) {
  auto proc = goscry::testing::LiveProcess::start({path, "-n", std::to_string(n)}, "ready",
                                                  std::chrono::seconds(120));
  if (!proc) {
    std::fprintf(stderr, "%s\n", proc.error().message.c_str());
    return 1;
  }
  // Each phase's wall and CPU time: wall is what a user waits on a shared machine, CPU what
  // goscry costs.
  struct Phase {
    Clock::time_point t = Clock::now();
    double cpu = cpu_ms();
    std::string done(const char* name) const {
      char buf[96];
      std::snprintf(buf, sizeof buf, "%s %.1f/%.1f", name, ms_since(t), cpu_ms() - cpu);
      return buf;
    }
  };
  const Phase all;
  Phase p;
  auto target = goscry::GoProcess::open((*proc)->pid());
  if (!target) return std::fprintf(stderr, "%s\n", target.error().message.c_str()), 1;
  const std::string open = p.done("open");
  p = Phase();
  goscry::ReadOptions ro;
  ro.args = true;  // as `goscry dump` reads for its text
  auto list = goscry::read_goroutines(**target, ro);
  if (!list) return std::fprintf(stderr, "%s\n", list.error().message.c_str()), 1;
  const std::string read = p.done("read");
  p = Phase();
  auto views = goscry::symbolize_goroutines(**target, std::move(list->goroutines), list->read_at,
                                            list->pc_facts);
  const std::string sym = p.done("symbolize");
  p = Phase();
  auto text = goscry::traceback_text(views);
  const std::string fmt = p.done("format");
  std::printf("dump %6d goroutines: total %7.1f ms wall, %7.1f ms CPU (ms wall/CPU: %s, %s [%llu "
              "syscalls, %d attempt], %s, %s; %zu bytes of text)\n",
              int(views.size()), ms_since(all.t), cpu_ms() - all.cpu, open.c_str(),
              read.c_str(), (unsigned long long)list->syscalls, list->attempts, sym.c_str(),
              fmt.c_str(), text.size());
  if (n == 10000) {
    double worst = 0, sum = 0, cpu_sum = 0, stop_sum = 0;
    const int runs = 10;
    for (int i = 0; i < runs; ++i) {
      const double c0 = cpu_ms();
      const auto s0 = Clock::now();
      auto pause = goscry::TargetPause::stop((*proc)->pid());
      if (!pause) return std::fprintf(stderr, "%s\n", pause.error().message.c_str()), 1;
      stop_sum += ms_since(s0);
      auto l = goscry::read_goroutines(**target);
      const double p = double((*pause)->resume()) / 1e6;
      cpu_sum += cpu_ms() - c0;
      worst = std::max(worst, p);
      sum += p;
      if (!l) return 1;
    }
    std::printf("pause with --pause at %d goroutines: mean %.1f ms wall, worst %.1f ms (%d runs; "
                "of which stopping every thread: mean %.1f ms); goscry CPU while paused: mean "
                "%.1f ms\n",
                n, sum / runs, worst, runs, stop_sum / runs, cpu_sum / runs);
  }
  return 0;
}

// Runs `goscry dump --pid PID ARGS... -o FILE`; its wall time, peak RSS and stderr.
struct VerbRun {
  double wall_ms = 0;
  double max_rss_mib = 0;
  std::string err;
  int status = -1;
};
VerbRun run_dump_verb(pid_t pid, std::vector<std::string> args) {
  const std::string out = "/tmp/goscry-dump-bench." + std::to_string(getpid());
  const std::string err = out + ".err";
  std::vector<std::string> argv = {goscry::testing::goscry_binary(), "dump", "--pid",
                                   std::to_string(pid), "-o", out};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  VerbRun r;
  const auto t = Clock::now();
  pid_t child = -1;
  if (posix_spawn(&child, cargv[0], &fa, nullptr, cargv.data(), environ) != 0) return r;
  posix_spawn_file_actions_destroy(&fa);
  rusage ru{};
  wait4(child, &r.status, 0, &ru);
  r.wall_ms = ms_since(t);
  r.max_rss_mib = double(ru.ru_maxrss) / 1024;
  std::ifstream in(err);
  std::stringstream ss;
  ss << in.rdbuf();
  r.err = ss.str();
  unlink(out.c_str());
  unlink(err.c_str());
  return r;
}

int bench_dump_verb(const std::string& path, int n) {
  auto proc = goscry::testing::LiveProcess::start({path, "-n", std::to_string(n)}, "ready",
                                                  std::chrono::seconds(120));
  if (!proc) return std::fprintf(stderr, "%s\n", proc.error().message.c_str()), 1;
  int rc = 0;
  for (const auto& [name, args] :
       std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"text", {}}, {"json", {"--format", "json"}}, {"text --pause", {"--pause"}}}) {
    const VerbRun r = run_dump_verb((*proc)->pid(), args);
    std::smatch paused;
    std::regex_search(r.err, paused, std::regex("target paused for ([0-9.]+ ms)"));
    std::printf("goscry dump %-12s at %d goroutines: %7.1f ms wall, peak RSS %6.1f MiB%s%s\n",
                name.c_str(), n, r.wall_ms, r.max_rss_mib, paused.empty() ? "" : ", target stopped ",
                paused.empty() ? "" : paused[1].str().c_str());
    if (r.status != 0) std::fprintf(stderr, "%s", r.err.c_str()), rc = 1;
  }
  return rc;
}

int bench_leak_latency(const std::string& path) {
  auto proc = goscry::testing::LiveProcess::start({path, "-rate", "1", "recv"});
  if (!proc) return std::fprintf(stderr, "%s\n", proc.error().message.c_str()), 1;
  const auto start = Clock::now();  // the first leak happens 1 s after ready
  auto target = goscry::GoProcess::open((*proc)->pid());
  if (!target) return std::fprintf(stderr, "%s\n", target.error().message.c_str()), 1;
  goscry::LeakDetector detector;
  for (auto next = Clock::now(); ms_since(start) < 90000; next += std::chrono::seconds(1)) {
    auto list = goscry::read_goroutines(**target);
    if (!list) return 1;
    auto views = goscry::symbolize_goroutines(**target, std::move(list->goroutines), list->read_at,
                                              list->pc_facts);
    auto fresh = detector.observe(views, list->read_at, nullptr);
    if (!fresh.empty()) {
      std::printf("leak at 1/s reported %.1f s after the first leaked goroutine (%zu goroutines, "
                  "%s confidence)\n",
                  ms_since(start) / 1000 - 1.0, fresh[0].count, fresh[0].confidence.c_str());
      return 0;
    }
    std::this_thread::sleep_until(next + std::chrono::seconds(1));
  }
  std::printf("leak at 1/s: not reported within 90 s\n");
  return 1;
}

}  // namespace

int main() {
  const auto q = goscry::testing::newest_fixture("quiescent");
  const auto l = goscry::testing::newest_fixture("leaks");
  if (!q || !l) return std::fprintf(stderr, "fixtures not built\n"), 1;
  std::printf("fixtures: %s, %s\n", q->label().c_str(), l->label().c_str());
  int rc = 0;
  // First, while this process is small: a child's peak RSS (wait4) starts from its parent's,
  // since spawn and fork copy the parent's mappings before exec.
  rc |= bench_dump_verb(q->path, 100000);
  for (int n : {1000, 10000, 100000}) rc |= bench_dump(q->path, n);
  rc |= bench_leak_latency(l->path);
  return rc;
}
