// A machine saturated on purpose: busy-looping child processes on every online CPU, at
// nice 0, for as long as the object lives. Tests that must hold on a loaded CI node (issue 14:
// an attach lost 23,564 events there) run under it. The children die with the object, and
// with the test process if it dies first (PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <vector>

namespace goscry::testing {

class CpuHog {
 public:
  // `per_cpu` busy loops per online CPU (a load average of about that many per CPU).
  explicit CpuHog(int per_cpu = 1);
  ~CpuHog();
  CpuHog(const CpuHog&) = delete;
  CpuHog& operator=(const CpuHog&) = delete;

  std::size_t size() const { return children_.size(); }

 private:
  std::vector<pid_t> children_;
};

}  // namespace goscry::testing
