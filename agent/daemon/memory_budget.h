// The agent's memory as a budget (docs/agent.md "Memory budget"), not a consequence of how
// many targets a node runs: at every scan the agent reads its own resident set, split into
// file-backed pages (mostly the binaries the symbolizer and the probes mapped) and anonymous
// ones, and when the file-backed pages beyond its own code are over the symbolizer's share,
// or the whole over the budget, it releases the mapped binaries' pages (they are read again from the page cache
// when next needed). Each release is a degradation counted in
// goscry_agent_memory_degradations_total; a budget still exceeded after it is shown on the
// `/` page and in goscry_agent_memory_over_budget.
//
// Thread-safe: enforce() runs on the agent's loop, view() on HTTP requests.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>

#include "exporters/prometheus.h"
#include "symbolizer/error.h"

namespace goscry {

struct ResidentMemory {
  std::uint64_t file_bytes = 0;  // file-backed (and shared) pages: statm's "shared"
  std::uint64_t anon_bytes = 0;
};

// Bounds what glibc's allocator keeps for reuse; called before the agent's threads start.
// Each allocating thread gets an arena of its own (up to 8 per core), whose freed pages it
// keeps; and after a large block is freed glibc raises its mmap threshold to that size,
// so later large blocks come from the arenas and stay there. With 100 targets, ten
// /metrics renders (1.7 MB of text each, on the HTTP threads) so left 78 MiB anonymous
// where 40 MiB were in use; two arenas and a fixed 256 KiB threshold (large blocks mapped,
// and unmapped when freed) keep it at 40 (scripts/bench-fleet.sh, issue 15).
void bound_allocator_caches();

// The resident set of this process from /proc/self/statm (cheap: no page table walk).
Result<ResidentMemory> own_resident_memory();

struct MemoryView {
  std::uint64_t budget_bytes = 0;
  std::uint64_t symbol_share_bytes = 0;
  ResidentMemory resident;
  std::uint64_t releases = 0;
  std::uint64_t heap_trims = 0;
  std::uint64_t shed_targets = 0;  // targets a source gave up (TargetSource::shed_one_target)
  bool over_budget = false;
};

class MemoryBudget {
 public:
  // The measured series, registered at the first measurement: before it they are absent,
  // not 0.
  struct Measured {
    prometheus::Gauge* over;
    prometheus::Gauge* file;
    prometheus::Gauge* anon;
    prometheus::Counter* releases;
    prometheus::Counter* heap_trims;
    prometheus::Counter* shed_targets;
  };

  explicit MemoryBudget(prometheus::Registry& registry);

  void configure(std::uint64_t budget_bytes, std::uint64_t symbol_share_bytes);
  // Measures, and releases the mapped binaries' pages when over (see the file comment).
  void enforce();
  std::optional<MemoryView> view() const;
  // One target's watch was given up to shrink (TargetSource::shed_one_target).
  void count_shed_target();

 private:
  void publish_locked();

  prometheus::Registry& registry_;
  prometheus::Gauge& budget_gauge_;
  mutable std::mutex mu_;
  MemoryView view_;
  std::optional<Measured> measured_;
  // The file-backed pages the agent had before reading any target (its own code): the
  // symbolizer's share is of the pages beyond them.
  std::uint64_t own_file_bytes_ = 0;
};

}  // namespace goscry
