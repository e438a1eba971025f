// The goroutines a process has right now, read from its memory: runtime.allglen and
// runtime.allgptr, then each g (goid, gopc, startpc, status). The goroutine tracker uses it
// once, right after the probes are attached, to count what was alive before them.
//
// Reads are racy by nature (the target runs on): the runtime appends to allgs but never
// shrinks it, and reads allglen before the pointer, so reading in the same order gives a
// prefix that is valid; a g whose read fails is skipped and counted.
#pragma once

#include <cstdint>
#include <vector>

#include "symbolizer/error.h"
#include "symbolizer/process.h"
#include "symbolizer/runtime_globals.h"
#include "symbolizer/runtime_layout.h"

namespace goscry {

struct GoroutineRecord {
  std::uint64_t goid = 0;
  std::uint64_t gopc = 0;     // run-time address of the go statement (PIE: biased)
  std::uint64_t startpc = 0;  // run-time address of the goroutine's function
  std::uint32_t status = 0;   // g.atomicstatus without the _Gscan bit
};

struct GoroutineSnapshot {
  std::vector<GoroutineRecord> alive;  // neither _Gdead nor _Gdeadextra (1.26+)
  std::uint64_t allglen = 0;
  std::uint64_t unreadable = 0;  // g structs that could not be read
};

// `allg` holds run-time addresses (link-time + load bias).
Result<GoroutineSnapshot> read_goroutines(const Process& process, const AllgAddresses& allg,
                                          const RuntimeLayout& layout);

}  // namespace goscry
