// Figures for `goscry heap` (issue 16), measured in one run: the time to take the heap
// profile of a program with 10,000 distinct allocation stacks (goal: < 100 ms), split into
// opening the target, reading the bucket list from its memory, symbolizing and unsampling,
// and encoding the pprof; wall and CPU, over several runs. The target is never stopped:
// the reads are process_vm_readv, no ptrace stop, no signal. Then the target's throughput
// (allocations from two sites at Go's default rate, its `work` command) while its heap
// profile is taken every 10 s, against the same alone: rounds of 10 s, each read round
// between two alone ones (goal >= 0.995).
// usage: heap_bench   (scripts/bench-heap.sh builds and runs it)
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
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

// One round of the target's `work` for kRoundSeconds: its rounds per second and per CPU
// second of its thread. With `read`, its heap profile is taken in the middle, as `goscry
// heap` takes it (open, read, profile, encode): one read per 10 s.
constexpr int kRoundSeconds = 10;
struct Pace {
  double per_s = 0, per_cpu_s = 0;
};
std::optional<Pace> work_round(goscry::testing::LiveProcess& p, bool read) {
  if (!p.send("work " + std::to_string(kRoundSeconds) + "\n")) return std::nullopt;
  if (read) {
    std::this_thread::sleep_for(std::chrono::seconds(kRoundSeconds / 2));
    if (!one_run(p.pid())) return std::nullopt;
  }
  auto line = p.wait_for_prefix("worked ", std::chrono::seconds(kRoundSeconds + 60));
  if (!line) return std::fprintf(stderr, "%s\n", line.error().message.c_str()), std::nullopt;
  Pace pace;
  if (std::sscanf(line->c_str(), "worked %lf %lf", &pace.per_s, &pace.per_cpu_s) != 2)
    return std::nullopt;
  return pace;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Read rounds bracketed by alone rounds (A R A R ... A), each read round against the mean of
// the two around it: the target's pace drifts over minutes, and a fixed order would charge
// the drift to the reads.
bool throughput_rounds(goscry::testing::LiveProcess& p) {
  constexpr int kReadRounds = 7;
  auto before = work_round(p, false);
  if (!before) return false;
  std::vector<double> per_s, per_cpu_s;
  for (int i = 0; i < kReadRounds; ++i) {
    auto r = work_round(p, true), after = work_round(p, false);
    if (!r || !after) return false;
    per_s.push_back(r->per_s / ((before->per_s + after->per_s) / 2));
    per_cpu_s.push_back(r->per_cpu_s / ((before->per_cpu_s + after->per_cpu_s) / 2));
    std::printf("round %d: per second %.4f, per CPU second %.4f x alone\n", i + 1, per_s.back(),
                per_cpu_s.back());
    std::fflush(stdout);
    before = after;
  }
  std::printf("target throughput with its heap read every 10 s: %.4f x alone per second, %.4f "
              "per CPU second of its thread (medians of %d %d s rounds, each between two "
              "alone; goal >= 0.995)\n",
              median(per_s), median(per_cpu_s), kReadRounds, kRoundSeconds);
  return true;
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
  const Run mid = runs[runs.size() / 2];
  std::printf(
      "heap profile of %zu stacks: median %.1f ms wall (open %.1f, read %.1f [%d attempt], "
      "symbolize+unsample %.1f, encode %.1f), %.1f ms CPU; best %.1f ms, worst %.1f ms "
      "(%zu runs); target pause: none (no ptrace stop, no signal)\n",
      mid.stacks, mid.total, mid.open, mid.read, mid.attempts, mid.profile, mid.encode, mid.cpu,
      runs.front().total, runs.back().total, runs.size());
  std::fflush(stdout);
  return throughput_rounds(**proc) ? 0 : 1;
}
