// Figures for `goscry heap` (issue 16), measured in one run: the time to take the heap
// profile of a program with 10,000 distinct allocation stacks (goal: < 100 ms), split into
// opening the target, reading the bucket list from its memory, symbolizing and unsampling,
// and encoding the pprof; wall and CPU, over several runs. The target is never stopped:
// the reads are process_vm_readv, no ptrace stop, no signal.
// usage: heap_bench   (scripts/bench-heap.sh builds and runs it)
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "agent/goruntime/go_process.h"
#include "agent/goruntime/heap_profile.h"
#include "agent/goruntime/heap_records.h"
#include "tests/bench/bench_support.h"
#include "tests/support/fixtures.h"
#include "tests/support/live_process.h"

namespace {

using goscry::bench::Clock;
using goscry::bench::cpu_ms;
using goscry::bench::ms_since;

struct Run {
  double open = 0, read = 0, profile = 0, encode = 0, total = 0, cpu = 0;
  std::size_t stacks = 0;
  int attempts = 0;
};

std::optional<Run> one_run(pid_t pid) {
  Run r;
  const auto all = Clock::now();
  const double cpu0 = cpu_ms();
  auto t = Clock::now();
  auto target = goscry::GoProcess::open(pid);
  if (!target) return std::fprintf(stderr, "%s\n", target.error().message.c_str()), std::nullopt;
  r.open = ms_since(t);
  t = Clock::now();
  auto records = goscry::read_heap_records(**target);
  if (!records) return std::fprintf(stderr, "%s\n", records.error().message.c_str()), std::nullopt;
  r.read = ms_since(t);
  t = Clock::now();
  auto profile = goscry::heap_profile(**target, *records);
  r.profile = ms_since(t);
  t = Clock::now();
  auto bytes = goscry::heap_profile_proto(**target, profile);
  if (!bytes) return std::fprintf(stderr, "%s\n", bytes.error().message.c_str()), std::nullopt;
  r.encode = ms_since(t);
  r.total = ms_since(all);
  r.cpu = cpu_ms() - cpu0;
  r.stacks = records->records.size();
  r.attempts = records->attempts;
  return r;
}

}  // namespace

int main() {
  const auto f = goscry::testing::newest_fixture("heapsites");
  if (!f) return std::fprintf(stderr, "fixtures not built\n"), 1;
  // Every allocation sampled (rate 1), one live object per stack: 10,000 buckets.
  auto proc = goscry::testing::LiveProcess::start(
      {f->path, "-stacks", "10000", "-rate", "1"}, "ready", std::chrono::seconds(120));
  if (!proc) return std::fprintf(stderr, "%s\n", proc.error().message.c_str()), 1;
  std::printf("fixture: %s -stacks 10000 -rate 1\n", f->label().c_str());
  std::vector<Run> runs;
  for (int i = 0; i < 7; ++i) {
    auto r = one_run((*proc)->pid());
    if (!r) return 1;
    runs.push_back(*r);
  }
  std::sort(runs.begin(), runs.end(), [](const Run& a, const Run& b) { return a.total < b.total; });
  const Run& median = runs[runs.size() / 2];
  std::printf(
      "heap profile of %zu stacks: median %.1f ms wall (open %.1f, read %.1f [%d attempt], "
      "symbolize+unsample %.1f, encode %.1f), %.1f ms CPU; best %.1f ms, worst %.1f ms "
      "(%zu runs); target pause: none (no ptrace stop, no signal)\n",
      median.stacks, median.total, median.open, median.read, median.attempts, median.profile,
      median.encode, median.cpu, runs.front().total, runs.back().total, runs.size());
  return 0;
}
