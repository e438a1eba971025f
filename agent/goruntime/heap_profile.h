// The heap profile in the shapes Go writes it, from the records read out of a target
// (heap_records.h):
//   - profile.proto with the sample types alloc_objects/count, alloc_space/bytes,
//     inuse_objects/count, inuse_space/bytes, period space/bytes = MemProfileRate, values
//     unsampled as runtime/pprof's scaleHeapSample does, the same stacks (leading runtime
//     frames hidden, inlined calls folded into one location) and the "bytes" label;
//   - the text of /debug/pprof/heap?debug=1 (without the runtime.MemStats trailer, which
//     only the program can read);
//   - goscry's JSON envelope.
// A delta of two profiles is what /debug/pprof/allocs?seconds=N answers.
// The rules per Go version are in docs/go-runtime.md "The heap profile".
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/goruntime/go_process.h"
#include "agent/goruntime/heap_records.h"
#include "symbolizer/error.h"

namespace goscry {

// One pprof location: the physical pc (a return pc minus one) and its lines, innermost
// first (the inlined callees, then the function they were inlined into).
struct HeapLocation {
  std::uint64_t address = 0;
  std::vector<Frame> lines;
};

// Shared by every sample whose stack passes through it.
using HeapLocations = std::vector<std::shared_ptr<const HeapLocation>>;

enum HeapValue { kAllocObjects, kAllocSpace, kInuseObjects, kInuseSpace, kHeapValues };

struct HeapSample {
  std::vector<std::uint64_t> stack;       // the record's return PCs, leading runtime ones hidden
  HeapLocations locations;                // leaf first
  std::int64_t values[kHeapValues] = {};  // unsampled, as runtime/pprof writes them
  std::int64_t bytes_label = 0;           // the "bytes" label; 0: none
  HeapRecord record;                      // the raw counts (the debug=1 text shows them)
};

struct HeapProfile {
  std::int64_t rate = 0;
  std::vector<HeapSample> samples;
  std::int64_t time_nanos = 0;      // wall clock of the (last) read
  std::int64_t duration_nanos = 0;  // a delta's window
  bool delta = false;               // an allocs delta: pprof shows alloc_space by default
};

// Symbolizes and unsamples the records as runtime/pprof's writeHeapProto does for the
// target's Go version.
HeapProfile heap_profile(const GoProcess& t, const HeapRecords& records);

// after - before, stack by stack (net/http/pprof's serveDeltaProfile: scale the first by
// -1, merge, drop samples whose values are all 0).
HeapProfile heap_delta(const HeapProfile& before, const HeapProfile& after);

// Gzipped profile.proto bytes.
Result<std::string> heap_profile_proto(const GoProcess& t, const HeapProfile& p);
// /debug/pprof/heap?debug=1, records by in-use bytes, largest first.
std::string heap_profile_text(const HeapProfile& p);
nlohmann::ordered_json heap_profile_json(const GoProcess& t, const HeapProfile& p,
                                         const HeapRecords& last_read);

}  // namespace goscry
