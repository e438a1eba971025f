// The one write goscry ever makes to a target, and only when asked with
// --enable-sampling (docs/verbs/block.md "--enable-sampling"): a profiling rate, one aligned
// 8-byte word (runtime.MemProfileRate, runtime.blockprofilerate or
// runtime.mutexprofilerate), written with one pwrite to /proc/PID/mem and read back.
#pragma once

#include <cstdint>
#include <string>

#include "agent/goruntime/go_process.h"
#include "symbolizer/error.h"

namespace goscry {

struct RateWrite {
  std::uint64_t address = 0;
  std::int64_t before = 0;  // the word before the write
  std::int64_t after = 0;   // the word read back after it
};

// Writes `value` at the run-time `address` of the variable `name` in `t`. Fails, naming the
// variable, when the address is not 8-byte aligned, the write is short or refused, or the
// word read back is not `value`.
Result<RateWrite> write_profile_rate(const GoProcess& t, std::uint64_t address,
                                     std::int64_t value, const std::string& name);

// runtime.SetBlockProfileRate's conversion of nanoseconds to cputicks: 0 off, 1 every
// event, else rate x ticks/s / 1e9, at least 1.
std::int64_t block_rate_in_ticks(std::int64_t nanoseconds, std::int64_t ticks_per_second);

}  // namespace goscry
