// CPU samples -> a pprof profile: the one encoding of `goscry record` and of the agent's
// continuous profiler (agent/daemon/cpu_profiler.h), so that both give `go tool pprof` the same
// shape as Go's own CPU profile: sample types samples/count and cpu/nanoseconds, the
// period, executable mappings with build-ids, and every (inlined) frame with file:line.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "exporters/pprof.h"
#include "symbolizer/process_symbolizer.h"

namespace goscry {

// Frames above a stack's leaf hold return addresses: the call is the byte before.
inline std::uint64_t call_address(std::uint64_t pc, bool leaf) { return leaf ? pc : pc - 1; }

// One frame as sampled: its PC and what it symbolized to (null when it never was).
struct SampledPc {
  std::uint64_t pc;
  const SymbolizedAddress* sym;
};

// The one frame a sample shows in place of a stack it lost (stack id < 0 other than -ENOENT,
// see goscry_cpu_key): "[stack lost: why]" (user stack) or "[kernel stack lost: why]", so
// that no sample sits in a profile with no frame at all (docs/verbs/record.md). Null for a
// stored id or -ENOENT. The pointer stays valid for the program's life.
const SymbolizedAddress* lost_stack_frame(std::int32_t id, bool kernel);

// One stack with its counts. `cpu_ns` is count x the sampling period of the sampler that
// took the samples (the agent's rate may change between two drains).
struct CpuSample {
  std::vector<SampledPc> leaf_first;  // the kernel stack, then the user stack
  std::int64_t count = 0;
  std::int64_t cpu_ns = 0;
  std::vector<pprof::Label> labels;
};

// What pprof's mappings say of each executable file, read while the target lives.
struct ModuleId {
  std::string build_id;  // GNU build-id, else Go's
  bool is_go = false;    // Go tables: file names, lines and inlined frames
};
using ModuleIds = std::map<std::string, ModuleId>;

// Opens every executable file mapping of the process now (and keeps its build-id): once
// the target is gone its files cannot be reached through it.
ModuleIds read_module_ids(ProcessSymbolizer& symbolizer);

// The profile of `samples`, taken at `hz`, over [start_ns, start_ns + duration_ns) (Unix
// time). `symbolizer` (may be null) gives the mappings.
pprof::ProfileBuilder cpu_pprof(const std::vector<CpuSample>& samples,
                                const ProcessSymbolizer* symbolizer, const ModuleIds& module_ids,
                                int hz, std::int64_t start_ns, std::int64_t duration_ns);

}  // namespace goscry
