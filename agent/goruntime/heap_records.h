// The heap profile of a running Go program, read from its memory: the records
// runtime.MemProfile would return at this moment (docs/go-runtime.md "The heap profile"),
// one per allocation stack, with the runtime's own "as of the last completed GC" semantics.
// Nothing is written to the target: where MemProfile flushes the finished cycle into the
// published counts, goscry adds the two itself.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/goruntime/go_process.h"
#include "symbolizer/error.h"

namespace goscry {

// One runtime.MemProfileRecord: sampled counts, not yet scaled by the sampling rate.
struct HeapRecord {
  // Return PCs as the runtime recorded them (run-time addresses, leaf first), one per
  // logical frame, inlined frames included.
  std::vector<std::uint64_t> stack;
  std::int64_t object_size = 0;  // bucket.size: the size of each allocation of this stack
  std::int64_t alloc_objects = 0;
  std::int64_t free_objects = 0;
  std::int64_t alloc_bytes = 0;
  std::int64_t free_bytes = 0;

  std::int64_t inuse_objects() const { return alloc_objects - free_objects; }
  std::int64_t inuse_bytes() const { return alloc_bytes - free_bytes; }
};

// The two words the published counts depend on besides the buckets. Between GCs mallocs
// and frees go to future cycles only, so while neither word moves a read returns the
// counts the last one did, once a GC has published some (HeapRecords::settled).
struct HeapStamp {
  std::uint64_t rate = 0;   // runtime.MemProfileRate
  std::uint32_t cycle = 0;  // runtime.mProfCycle: a GC, or MemProfile in the target, moves it
  bool operator==(const HeapStamp&) const = default;
};

struct HeapRecords {
  std::int64_t rate = 0;            // runtime.MemProfileRate at the read
  std::vector<HeapRecord> records;  // newest bucket first, the order of MemProfile
  // False when the published counts changed under every read (a GC flushed a cycle each
  // time): the last read is returned, and the caller says so.
  bool consistent = true;
  int attempts = 0;
  std::int64_t read_ns = 0;
  std::string source;  // where the globals were found: ".symtab" or "runtime code"
  std::uint32_t cycle = 0;  // runtime.mProfCycle at the read
  // Some bucket had published counts. Until then the runtime shows every future cycle
  // instead, which each malloc changes, so an equal stamp says nothing.
  bool settled = false;

  HeapStamp stamp() const { return {std::uint64_t(rate), cycle}; }
};

struct HeapReadOptions {
  // Bounds on what a target can make goscry read (docs/contributing.md: hostile input): a
  // program has a few thousand allocation stacks; the runtime caps a stack at 1024 frames.
  std::size_t max_buckets = 1u << 20;
  std::size_t max_frames = 1024;
  int max_attempts = 5;
};

// The run-time address of runtime.MemProfileRate in `t` (what --enable-sampling writes).
Result<std::uint64_t> mem_profile_rate_address(const GoProcess& t);

// The stamp now: two words, for a periodic reader to skip a read that would return the
// same counts.
Result<HeapStamp> read_heap_stamp(const GoProcess& t);

// Fails with one sentence naming the pid and the cause: the target exited, the globals are
// not found, MemProfileRate is 0 (memory profiling off), a bucket list beyond the bounds.
Result<HeapRecords> read_heap_records(const GoProcess& t, const HeapReadOptions& opt = {});

}  // namespace goscry
