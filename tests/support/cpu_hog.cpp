#include "tests/support/cpu_hog.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace goscry::testing {

namespace {

// In the forked child of a multithreaded test: only async-signal-safe calls, then a loop
// the compiler cannot drop.
[[noreturn]] void spin() {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  for (;;) asm volatile("" ::: "memory");
}

}  // namespace

CpuHog::CpuHog(int per_cpu) {
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  for (long i = 0; i < (cpus > 0 ? cpus : 1) * per_cpu; ++i) {
    const pid_t pid = fork();
    if (pid == 0) spin();
    if (pid > 0) children_.push_back(pid);
  }
}

CpuHog::~CpuHog() {
  for (pid_t pid : children_) kill(pid, SIGKILL);
  for (pid_t pid : children_) waitpid(pid, nullptr, 0);
}

}  // namespace goscry::testing
