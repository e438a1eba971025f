// CLOCK_MONOTONIC in nanoseconds: the clock of Go's nanotime() and of bpf_ktime_get_ns(),
// so times read from the runtime, taken in BPF and taken here compare directly.
#pragma once

#include <time.h>

#include <cstdint>

namespace goscry {

inline std::int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace goscry
