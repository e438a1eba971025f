// The block and mutex profiles of a running Go program, read from its memory: the records
// runtime.BlockProfile / runtime.MutexProfile would return at this moment, one per stack
// (docs/go-runtime.md "The block and mutex profiles"). Nothing is written to the target.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/goruntime/go_process.h"
#include "symbolizer/error.h"
#include "symbolizer/runtime_globals.h"

namespace goscry {

enum class ContentionKind { kBlock, kMutex };

// "block" or "mutex", the verb's and the profile's name.
const char* contention_name(ContentionKind kind);

// One runtime.BlockProfileRecord: the count and cycles the runtime keeps, already scaled by
// the runtime where it scales (every block event; mutex events from Go 1.20).
struct ContentionRecord {
  // Return PCs as the runtime recorded them, leaf first: logical frames (callers) before
  // Go 1.23; from 1.23 physical return PCs of the frame-pointer walk, the first few
  // possibly logical (fpTracebackPartialExpand).
  std::vector<std::uint64_t> stack;
  std::int64_t count = 0;   // int64(blockRecord.count), 1 when that is 0, as BlockProfile
  std::int64_t cycles = 0;  // blockRecord.cycles, in cputicks
};

struct ContentionRecords {
  ContentionKind kind = ContentionKind::kBlock;
  // runtime.blockprofilerate (cputicks) or runtime.mutexprofilerate (1 in N) at the read.
  std::int64_t rate = 0;
  // cputicks per second, what runtime/pprof divides cycles by; how goscry knows it.
  std::int64_t ticks_per_second = 0;
  std::string ticks_source;
  std::vector<ContentionRecord> records;  // newest bucket first
  std::int64_t read_ns = 0;
  std::string source;  // where the globals were found: ".symtab" or "runtime code"
};

struct ContentionReadOptions {
  // Bounds on what a target can make goscry read (docs/contributing.md: hostile input).
  std::size_t max_buckets = 1u << 20;
  std::size_t max_frames = 1024;
};

// The addresses (run-time) of the profile's globals in `t`.
Result<ContentionProfileAddresses> contention_globals(const GoProcess& t);

// Fails with one sentence naming the pid and the cause: the target exited, the globals are
// not found, a bucket list beyond the bounds or of the wrong type.
Result<ContentionRecords> read_contention_records(const GoProcess& t, ContentionKind kind,
                                                  const ContentionReadOptions& opt = {});

// cputicks per second as the target's runtime answers runtime_cyclesPerSecond: its cached
// runtime.ticks value when it has one; from 1.22 else what it would compute now from its
// start ticks and time; else goscry's own measure of the same clock (RDTSC against
// CLOCK_MONOTONIC). `source` says which.
std::int64_t target_ticks_per_second(const GoProcess& t, const ContentionProfileAddresses& a,
                                     std::string& source);

}  // namespace goscry
