// `goscry record` driven from tests: run it on a live process while reading the target's
// CPU time around the sampling window, and read the profiles it writes with `go tool
// pprof` (the reference reader) rather than with goscry's own code.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "agent/proc/privileges.h"

namespace goscry::testing {

// Skips only for a missing privilege, and fails even then under CI=true (a missing
// privilege must not pass silently in CI); a kernel that refuses the program always fails.
// (Expands in test files, which include agent/probes/bpf_loader.h.)
#define SKIP_OR_FAIL_WITHOUT_BPF()                                                \
  if (auto probe = CpuSampler::open(1); !probe) {                                 \
    const char* ci = std::getenv("CI");                                           \
    if (!missing_privileges() || (ci && std::string(ci) == "true"))               \
      FAIL() << probe.error().message;                                            \
    GTEST_SKIP() << probe.error().message;                                        \
  }

// utime + stime of a process, in seconds.
double cpu_seconds(pid_t pid);
// The run time of every thread of a process, in seconds (/proc/PID/task/*/schedstat).
double schedstat_seconds(pid_t pid);
// A path in the test's temporary directory, unique to this test process.
std::string temp_path(const std::string& suffix);

struct Recorded {
  int exit_code = -1;
  double target_cpu = 0;  // CPU seconds the target used while goscry sampled (utime+stime)
  double target_run = 0;  // the same from schedstat (exited threads are not counted)
  std::string output;
};
// Runs `goscry record --pid PID --hz HZ ARGS...`, reading the target's CPU time when goscry
// says it started sampling and when it stopped.
Recorded record(pid_t pid, const std::vector<std::string>& args, int hz = 99);

// Flat samples per function from `go tool pprof -top` (sample index "samples"); " (inline)"
// suffixes dropped. `raw` gets pprof's whole output; `options` are more pprof options
// (-hide=REGEX).
std::map<std::string, long> flat_samples(const std::string& profile, std::string* raw = nullptr,
                                         const std::vector<std::string>& options = {});
long total(const std::map<std::string, long>& flat);
// The same as shares of all flat samples, in percent; `samples` gets their number.
std::map<std::string, double> flat_shares(const std::string& profile, long* samples,
                                          const std::vector<std::string>& options = {});

// One binomial sigma, in percentage points, of the difference of two shares around `share`
// (percent) measured over n and m samples.
double share_sigma(double share, long n, long m);

// Two CPU profiles of one program over one window compared by flat share per function: the
// functions at or above 2 % in one must be so in the other, their shares within 5 points or
// 4 binomial sigmas of the difference, whichever is more (a profile of few samples is
// noisier than 5 points). A function on either side of 2 % is the same in both when its two
// shares are within those 4 sigmas of each other: sampling noise, not a disagreement.
// 4, not 3: a CI run compares some 200 shares, and at 3 sigmas (0.27 % each) several runs in
// ten would fail on noise alone (one did: 6.1 against 11.5 % at 473 and 944 samples, where
// four reruns of the same test gave 10-13 % on both sides).
struct FlatComparison {
  std::size_t compared = 0;   // functions at or above 2 % in either
  double max_difference = 0;  // percentage points, over those
  std::string table;          // one line per compared function
  std::string disagreements;  // empty when they agree
};
FlatComparison compare_flat_shares(const std::map<std::string, double>& theirs, long n_theirs,
                                   const std::map<std::string, double>& mine, long n_mine);

// One sample of `go tool pprof -raw`: its count and its labels.
struct RawSample {
  long count = 0;
  std::map<std::string, std::string> labels;
};
std::vector<RawSample> raw_samples(const std::string& profile, std::string* raw = nullptr);

}  // namespace goscry::testing
