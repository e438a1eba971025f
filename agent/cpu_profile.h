// One process's CPU profile built from the CPU sampler's counts (bpf/cpu.bpf.c): stacks
// read and symbolized as their ids appear (so a target exiting mid-record keeps named
// frames), pprof label sets read from the target once per address, and the frameless-leaf
// return address put back where the frame pointer walk skipped it. Turned into a pprof
// profile, folded stacks or SVG flame graph input. `goscry record` uses it for one
// recording; the agent's continuous profiling can use one per target and period:
//
//   CpuProfile p(sampler, symbolizer, go_process, pid, {.goid_labels = false});
//   each second: p.resolve_new(sampler.peek_keys());   (or p.add(sampler.drain_counts()))
//   at the end:  p.add(sampler.drain_counts());
//                auto b = build_pprof(p, module_ids_of(*symbolizer), {hz, start, duration});
//
// Counts of other tgids (a sampler shared by many targets) are ignored by add().
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "agent/bpf_loader.h"
#include "agent/go_process.h"
#include "agent/pprof_labels.h"
#include "exporters/flamegraph.h"
#include "exporters/pprof.h"
#include "symbolizer/process_symbolizer.h"

namespace goscry {

struct CpuProfileOptions {
  bool goid_labels = false;  // a "goid" label on every sample taken in a goroutine
};

class CpuProfile {
 public:
  // `symbolizer` may be null (addresses stay hex); `go` may be null (no pprof labels).
  CpuProfile(const CpuSampler& sampler, ProcessSymbolizer* symbolizer, const GoProcess* go,
             std::uint32_t tgid, CpuProfileOptions options = {});

  // Reads and symbolizes the stacks of ids not seen yet and the label sets of addresses
  // not seen yet (keys of other tgids are skipped).
  void resolve_new(const std::vector<goscry_cpu_key>& keys);
  // Adds counts (and resolves what they need).
  void add(const std::vector<CpuCount>& counts);

  std::uint64_t total() const;

  struct Pc {
    std::uint64_t pc;
    const SymbolizedAddress* sym;  // null when never symbolized
  };
  // Leaf first: the kernel stack, then the user stack.
  std::vector<Pc> leaf_first(const goscry_cpu_key& k) const;
  // The labels of a sample: its pprof labels, then "goid" when asked for.
  std::vector<pprof::Label> labels(const goscry_cpu_key& k) const;

  using Key = std::tuple<std::uint32_t, std::int32_t, std::int32_t, std::uint64_t,
                         std::uint64_t, std::uint64_t>;
  const std::map<Key, std::pair<goscry_cpu_key, std::uint64_t>>& counts() const { return counts_; }
  // Label sets that could not be read (freed before the read, a target that exited).
  std::uint64_t unreadable_label_sets() const { return unreadable_labels_; }

 private:
  static Key key_of(const goscry_cpu_key& k);
  bool leaf_is_frameless(std::uint64_t pc);

  const CpuSampler& sampler_;
  ProcessSymbolizer* symbolizer_;
  const GoProcess* go_;
  std::uint32_t tgid_;
  CpuProfileOptions options_;
  std::map<std::int32_t, std::vector<std::uint64_t>> stacks_;
  std::map<std::uint64_t, SymbolizedAddress> symbols_;
  std::map<std::uint64_t, bool> frameless_;       // user leaf pc -> SP at its entry value
  std::map<std::uint64_t, PprofLabels> label_sets_;  // g.labels -> labels
  std::uint64_t unreadable_labels_ = 0;
  std::map<Key, std::pair<goscry_cpu_key, std::uint64_t>> counts_;
};

// What pprof's mappings say of each executable file, read while the target lives.
struct ModuleId {
  std::string build_id;  // GNU build-id, else Go's
  bool is_go = false;    // Go tables: file names, lines and inlined frames
};
using ModuleIds = std::map<std::string, ModuleId>;
// Opens every executable mapping's module now: once the target is gone they cannot be
// reached through it.
ModuleIds module_ids_of(ProcessSymbolizer& symbolizer);

struct PprofWindow {
  int hz = 99;
  std::int64_t start_ns = 0;     // wall clock
  std::int64_t duration_ns = 0;
};
// samples/count and cpu/nanoseconds (period 1e9/hz), mappings with build-ids, locations
// with inlined frames, labels. `symbolizer` may be null.
pprof::ProfileBuilder build_pprof(const CpuProfile& profile, ProcessSymbolizer* symbolizer,
                                  const ModuleIds& module_ids, const PprofWindow& window);

// Root-first frame names ("f [k]" for kernel frames) of every stack, for folded and SVG.
std::vector<flame::StackCount> flame_stacks(const CpuProfile& profile);

}  // namespace goscry
