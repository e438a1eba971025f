// One process's CPU profile built from the CPU sampler's counts (bpf/cpu.bpf.c): stacks
// read and symbolized as they appear (so a target exiting mid-record keeps named frames),
// pprof label sets read from the target once per address, and the frameless-leaf return
// address put back where the frame pointer walk skipped it. Turned into a pprof profile,
// folded stacks or SVG flame graph input. `goscry record` uses one for its recording; the
// agent's continuous profiler (agent/daemon/cpu_profiler.h) one per target and window (a
// /debug/pprof/profile request, a push period):
//
//   CpuRecording r(symbolizer, go_process, pid, {.goid_labels = false});
//   every 100 ms: sampler.read_ring();
//   each second:  r.add(read_drain(sampler, sampler.drain_counts(), hz));
//   at the end:   r.add(read_drain(sampler, sampler.drain_counts(), hz));
//                 auto b = cpu_pprof(cpu_samples(r, kernel), symbolizer, ...);
//
// A recording keeps the stacks' contents, not the sampler's stack ids: the agent frees the
// ids after every drain (CpuSampler::forget_stacks) so that its stack table never fills up.
// Counts of other tgids (a sampler shared by many targets) are ignored by add().
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "agent/cpu/cpu_profile.h"
#include "agent/goruntime/go_process.h"
#include "agent/goruntime/pprof_labels.h"
#include "agent/probes/bpf_loader.h"
#include "exporters/flamegraph.h"
#include "exporters/pprof.h"
#include "symbolizer/process_symbolizer.h"

namespace goscry {

// One drain of a sampler: the counts with the stacks they name, read before the sampler
// may forget them, and the rate they were taken at.
struct CpuDrain {
  std::vector<CpuCount> counts;
  std::map<std::int32_t, std::vector<std::uint64_t>> stacks;  // sampler stack id -> pcs
  int hz = 0;
};
CpuDrain read_drain(const CpuSampler& sampler, std::vector<CpuCount> counts, int hz);

struct CpuRecordingOptions {
  bool goid_labels = false;  // a "goid" label on every sample taken in a goroutine
};

class CpuRecording {
 public:
  // `symbolizer` may be null (addresses stay hex); `go` may be null (no pprof labels).
  CpuRecording(ProcessSymbolizer* symbolizer, const GoProcess* go, std::uint32_t tgid,
               CpuRecordingOptions options = {});

  // Adds the counts of this tgid (and resolves what they need: stacks, symbols, labels).
  void add(const CpuDrain& drain);

  std::uint64_t total() const;
  // The CPU time of a key's samples: count x the period of the rate each was taken at.
  std::int64_t cpu_ns(const goscry_cpu_key& k) const;

  using Pc = SampledPc;
  // Leaf first: the kernel stack (with `kernel`), then the user stack. A lost stack is one
  // "[stack lost: why]" frame (lost_stack_frame). Without `kernel` a sample taken in the
  // kernel ends at the Go (or C) function that entered it, and one taken in the vDSO at the
  // caller of the runtime function that called it, as SIGPROF's samples do.
  std::vector<Pc> leaf_first(const goscry_cpu_key& k, bool kernel = true) const;
  // The labels of a sample: its pprof labels, then "goid" when asked for.
  std::vector<pprof::Label> labels(const goscry_cpu_key& k) const;

  using Key = std::tuple<std::uint32_t, std::int32_t, std::int32_t, std::uint64_t,
                         std::uint64_t, std::uint64_t>;
  const std::map<Key, std::pair<goscry_cpu_key, std::uint64_t>>& counts() const { return counts_; }
  // Label sets that could not be read (freed before the read, a target that exited).
  std::uint64_t unreadable_label_sets() const { return unreadable_labels_; }

 private:
  static Key key_of(const goscry_cpu_key& k);
  // The recording's own id of a stack (stable for its life, unlike the sampler's).
  std::int32_t intern(const CpuDrain& drain, std::int32_t sampler_id);
  // Symbolizes the stacks not seen yet and reads the label sets of addresses not seen yet.
  void resolve_new(const std::vector<goscry_cpu_key>& keys);
  // The index of the first user frame SIGPROF's traceback would show: past the vDSO's
  // frames and the runtime function that called it (its m.vdsoPC is that function's return
  // address; docs/verbs/record.md "Samples in the vDSO"). 0 for a sample not in the vDSO.
  std::size_t past_the_vdso(const std::vector<std::uint64_t>& pcs) const;
  bool leaf_is_frameless(std::uint64_t pc);

  ProcessSymbolizer* symbolizer_;
  const GoProcess* go_;
  std::uint32_t tgid_;
  CpuRecordingOptions options_;
  std::map<std::int32_t, std::vector<std::uint64_t>> stacks_;     // own id -> pcs, leaf first
  std::map<std::vector<std::uint64_t>, std::int32_t> stack_ids_;  // pcs -> own id
  std::set<std::int32_t> resolved_;                               // own ids symbolized
  std::map<std::uint64_t, SymbolizedAddress> symbols_;
  std::map<std::uint64_t, bool> frameless_;       // user leaf pc -> SP at its entry value
  std::map<std::uint64_t, PprofLabels> label_sets_;  // g.labels -> labels
  std::uint64_t unreadable_labels_ = 0;
  std::map<Key, std::pair<goscry_cpu_key, std::uint64_t>> counts_;
  std::map<Key, std::int64_t> cpu_ns_;
};

// The samples of a recording for cpu_pprof (agent/cpu/cpu_profile.h); with `kernel`,
// kernel frames on top of the user ones (else folded into the user leaf).
std::vector<CpuSample> cpu_samples(const CpuRecording& recording, bool kernel);

// Root-first frame names ("f [k]" for kernel frames) of every stack, for folded and SVG.
std::vector<flame::StackCount> flame_stacks(const CpuRecording& recording);

}  // namespace goscry
