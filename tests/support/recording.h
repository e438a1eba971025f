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
// suffixes dropped. `raw` gets pprof's whole output.
std::map<std::string, long> flat_samples(const std::string& profile, std::string* raw = nullptr);
long total(const std::map<std::string, long>& flat);

// One sample of `go tool pprof -raw`: its count and its labels.
struct RawSample {
  long count = 0;
  std::map<std::string, std::string> labels;
};
std::vector<RawSample> raw_samples(const std::string& profile, std::string* raw = nullptr);

}  // namespace goscry::testing
