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
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/goruntime/go_process.h"
#include "agent/goruntime/heap_records.h"
#include "exporters/pprof.h"
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
  bool delta = false;               // a delta of two reads (its window in duration_nanos)
  bool allocs = false;              // Go's "allocs" profile: pprof shows alloc_space by default
};

// One allocation site: the function that allocated (the innermost frame of a sample's
// leaf location, inlined calls included, as `go tool pprof -top` names its flat entries)
// and a value summed over its samples.
struct HeapSite {
  std::string function;
  std::int64_t value = 0;
};

// Symbolizes and unsamples the records as runtime/pprof's writeHeapProto does for the
// target's Go version.
HeapProfile heap_profile(const GoProcess& t, const HeapRecords& records);

// after - before, stack by stack (net/http/pprof's serveDeltaProfile: scale the first by
// -1, merge, drop samples whose values are all 0).
HeapProfile heap_delta(const HeapProfile& before, const HeapProfile& after);

// The sites of `p` by one of its values, largest first (ties by name); sites whose value
// is 0 are left out. For goscry_alloc_bytes_total{site} and gc's "why" summary.
std::vector<HeapSite> heap_sites(const HeapProfile& p, HeapValue value);

// Gzipped profile.proto bytes.
Result<std::string> heap_profile_proto(const GoProcess& t, const HeapProfile& p);
// /debug/pprof/heap?debug=1, records by in-use bytes, largest first.
std::string heap_profile_text(const HeapProfile& p);
// The locations of a profile's samples in its pprof, in the mapping of the Go binary's text;
// samples share their locations, and each is encoded once.
class PprofLocations {
 public:
  PprofLocations(pprof::ProfileBuilder& b, const GoProcess& t);
  std::vector<std::uint64_t> ids(const HeapLocations& stack);

 private:
  pprof::ProfileBuilder& b_;
  std::uint64_t mapping_;
  std::unordered_map<const HeapLocation*, std::uint64_t> ids_;
};

// A sample's stack in the JSON reports: every frame, inlined ones included, leaf first.
nlohmann::ordered_json stack_json(const HeapLocations& locations);
nlohmann::ordered_json heap_profile_json(const GoProcess& t, const HeapProfile& p,
                                         const HeapRecords& last_read);

}  // namespace goscry
