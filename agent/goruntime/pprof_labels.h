// The pprof labels of a goroutine (pprof.Do, pprof.SetGoroutineLabels), read from the
// target's memory at the address g.labels holds. BPF only records that address per CPU
// sample (bpf/cpu.bpf.c): walking a Go map or slice of strings there is out of reach of
// the verifier, while the agent reads it in a few syscalls, once per distinct address.
//
// g.labels points to a runtime/pprof labelMap:
//   Go 1.19-1.23: `type labelMap map[string]string`, so a pointer to an *hmap whose
//                 buckets hold 8 string keys and 8 string values (bucket = 8 tophash bytes,
//                 8x16 key bytes, 8x16 value bytes, the overflow pointer: 272 bytes);
//   Go 1.24+:     `type labelMap struct{ LabelSet }` = a slice of {key, value string}
//                 sorted by key (internal/runtime/pprof/label.Set in 1.26+, same layout).
// The label set of a context never changes once made (WithLabels copies), so an address
// read once stays valid while the goroutine holds it; after the GC frees it the memory
// may be reused, which a read long after the sample could see. The caller reads each new
// address at the next drain (once a second in `goscry record`) to keep that window short.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "symbolizer/error.h"
#include "symbolizer/process.h"

namespace goscry {

using PprofLabels = std::vector<std::pair<std::string, std::string>>;  // sorted by key

// The labels at `labels` (the value of g.labels) of a Go 1.`go_minor` target. Bad memory
// (a freed set, a corrupt pointer) fails or gives at most kMaxLabels short strings.
Result<PprofLabels> read_pprof_labels(const Process& target, int go_minor, std::uint64_t labels);

constexpr std::size_t kMaxLabels = 64;
constexpr std::size_t kMaxLabelBytes = 1024;

}  // namespace goscry
