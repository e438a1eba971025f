// The block and mutex profiles in the shapes Go writes them, from the records read out of
// a target (contention_records.h):
//   - profile.proto as runtime/pprof's printCountCycleProfile: sample types
//     contentions/count and delay/nanoseconds, period contentions/count = 1, cycles turned
//     into nanoseconds by the target's cputicks per second, Go 1.19's mutex profile scaled
//     by the sampling period (from 1.20 the runtime scales as it records);
//   - the text of /debug/pprof/block?debug=1 and /debug/pprof/mutex?debug=1;
//   - goscry's JSON envelope.
// A delta of two profiles is what /debug/pprof/block?seconds=N answers.
// The rules per Go version are in docs/go-runtime.md "The block and mutex profiles".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/goruntime/contention_records.h"
#include "agent/goruntime/go_process.h"
#include "agent/goruntime/heap_profile.h"  // HeapLocation(s): the same pprof locations

namespace goscry {

struct ContentionSample {
  HeapLocations locations;  // leaf first
  std::int64_t contentions = 0;
  std::int64_t delay_ns = 0;
  ContentionRecord record;  // the raw count and cycles (the debug=1 text shows them)
};

struct ContentionProfile {
  ContentionKind kind = ContentionKind::kBlock;
  std::int64_t rate = 0;
  std::int64_t ticks_per_second = 0;
  // What the runtime's records are multiplied by: Go 1.19's scaleMutexProfile multiplies
  // the mutex profile by SetMutexProfileFraction(-1), the rate now; 1 otherwise.
  std::int64_t scale = 1;
  std::vector<ContentionSample> samples;  // by cycles, largest first, as runtime/pprof
  std::int64_t time_nanos = 0;
  std::int64_t duration_nanos = 0;  // a delta's window
  bool delta = false;
};

// Symbolizes and scales the records as runtime/pprof's writeBlock / writeMutex does for
// the target's Go version.
ContentionProfile contention_profile(const GoProcess& t, const ContentionRecords& records);

// after - before, stack by stack (net/http/pprof's serveDeltaProfile), samples whose
// values are both 0 dropped. The difference is taken of the records' counts and cycles and
// scaled once, by `after`'s cycles per second: goscry may measure that rate anew at each
// read (contention_records.h), and scaled delays of unchanged records would not cancel.
ContentionProfile contention_delta(const ContentionProfile& before,
                                   const ContentionProfile& after);

// Gzipped profile.proto bytes.
Result<std::string> contention_profile_proto(const GoProcess& t, const ContentionProfile& p);
// /debug/pprof/{block,mutex}?debug=1.
std::string contention_profile_text(const ContentionProfile& p);
nlohmann::ordered_json contention_profile_json(const GoProcess& t, const ContentionProfile& p,
                                               const ContentionRecords& last_read);

}  // namespace goscry
