// The goroutines a process has right now, as the goroutine tracker needs them: goid, gopc,
// startpc and status of each live g, no stacks. A view of the one allgs reader
// (goroutine_reader.h: its cap, its retry when allgs moved under the read, its rule for
// what is alive) read without stacks. The tracker takes it once, right after the probes
// are attached, to count what was alive before them.
#pragma once

#include <cstdint>
#include <vector>

#include "agent/goruntime/go_process.h"
#include "symbolizer/error.h"

namespace goscry {

struct GoroutineRecord {
  std::uint64_t goid = 0;
  std::uint64_t gopc = 0;     // run-time address of the go statement (PIE: biased)
  std::uint64_t startpc = 0;  // run-time address of the goroutine's function
  std::uint32_t status = 0;   // g.atomicstatus without the _Gscan bit
};

struct GoroutineSnapshot {
  std::vector<GoroutineRecord> alive;  // neither idle, _Gdead nor _Gdeadextra (1.26+)
  std::uint64_t allglen = 0;
  std::uint64_t unreadable = 0;  // g structs that could not be read
};

// read_goroutines(target, {.stacks = false}), each goroutine cut to its record.
Result<GoroutineSnapshot> read_goroutine_snapshot(const GoProcess& target);

}  // namespace goscry
