// One process's CPU profile built from the CPU sampler's counts (bpf/cpu.bpf.c): stacks
// read and symbolized as their ids appear (so a target exiting mid-record keeps named
// frames), pprof label sets read from the target once per address, and the frameless-leaf
// return address put back where the frame pointer walk skipped it. Turned into a pprof
// profile, folded stacks or SVG flame graph input. `goscry record` uses it for one
// recording; the agent's continuous profiling can use one per target and period:
//
//   CpuRecording r(sampler, symbolizer, go_process, pid, {.goid_labels = false});
//   every 100 ms: sampler.read_ring();
//   each second:  r.add(sampler.drain_counts());
//   at the end:   r.add(sampler.drain_counts());
//                 auto b = cpu_pprof(cpu_samples(r, hz, kernel), symbolizer, ...);
//
// Counts of other tgids (a sampler shared by many targets) are ignored by add().
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "agent/probes/bpf_loader.h"
#include "agent/cpu/cpu_profile.h"
#include "agent/goruntime/go_process.h"
#include "agent/goruntime/pprof_labels.h"
#include "exporters/flamegraph.h"
#include "exporters/pprof.h"
#include "symbolizer/process_symbolizer.h"

namespace goscry {

struct CpuRecordingOptions {
  bool goid_labels = false;  // a "goid" label on every sample taken in a goroutine
};

class CpuRecording {
 public:
  // `symbolizer` may be null (addresses stay hex); `go` may be null (no pprof labels).
  CpuRecording(const CpuSampler& sampler, ProcessSymbolizer* symbolizer, const GoProcess* go,
             std::uint32_t tgid, CpuRecordingOptions options = {});

  // Reads and symbolizes the stacks of ids not seen yet and the label sets of addresses
  // not seen yet (keys of other tgids are skipped).
  void resolve_new(const std::vector<goscry_cpu_key>& keys);
  // Adds counts (and resolves what they need).
  void add(const std::vector<CpuCount>& counts);

  std::uint64_t total() const;

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
  // The index of the first user frame SIGPROF's traceback would show: past the vDSO's
  // frames and the runtime function that called it (its m.vdsoPC is that function's return
  // address; docs/verbs/record.md "Samples in the vDSO"). 0 for a sample not in the vDSO.
  std::size_t past_the_vdso(const std::vector<std::uint64_t>& pcs) const;
  bool leaf_is_frameless(std::uint64_t pc);

  const CpuSampler& sampler_;
  ProcessSymbolizer* symbolizer_;
  const GoProcess* go_;
  std::uint32_t tgid_;
  CpuRecordingOptions options_;
  std::map<std::int32_t, std::vector<std::uint64_t>> stacks_;
  std::map<std::uint64_t, SymbolizedAddress> symbols_;
  std::map<std::uint64_t, bool> frameless_;       // user leaf pc -> SP at its entry value
  std::map<std::uint64_t, PprofLabels> label_sets_;  // g.labels -> labels
  std::uint64_t unreadable_labels_ = 0;
  std::map<Key, std::pair<goscry_cpu_key, std::uint64_t>> counts_;
};

// The samples of a recording for cpu_pprof (agent/cpu/cpu_profile.h), taken at `hz`; with
// `kernel`, kernel frames on top of the user ones (else folded into the user leaf).
std::vector<CpuSample> cpu_samples(const CpuRecording& recording, int hz, bool kernel);

// Root-first frame names ("f [k]" for kernel frames) of every stack, for folded and SVG.
std::vector<flame::StackCount> flame_stacks(const CpuRecording& recording);

}  // namespace goscry
