// Reads of one target's goroutines that follow one another, as the leak detector takes
// them (`goscry leaks`, the agent's snapshots): what a read looked up per pc (PcFacts) and
// what symbolizing found (StackSymbolizer) is kept for the next read, so that it decodes
// only the pcs it has not seen. A target mostly shows the same stacks from one read to the
// next (an idle one, exactly the same), so a snapshot then costs the memory reads alone
// and touches none of the binary's pages (docs/agent.md "Leak detection"). Past
// `max_remembered` entries it starts over at the next read, which bounds its memory
// whatever the target runs.
//
// Not thread-safe: one reader at a time, like the target's GoProcess it borrows.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "agent/goruntime/go_process.h"
#include "agent/goruntime/goroutine_reader.h"
#include "agent/goruntime/goroutine_stacks.h"

namespace goscry {

class GoroutineMemo {
 public:
  // About 1 MB at most: an entry is a few frames' names.
  static constexpr std::size_t kMaxRemembered = 1 << 13;

  explicit GoroutineMemo(const GoProcess& t, std::size_t max_remembered = kMaxRemembered)
      : target_(t), max_remembered_(max_remembered) {}

  Result<GoroutineList> read(ReadOptions opt = {});
  std::vector<GoroutineView> symbolize(std::vector<Goroutine> gs, std::int64_t read_at);
  // Entries remembered now (StackSymbolizer::remembered).
  std::size_t remembered() const { return symbolizer_ ? symbolizer_->remembered() : 0; }

 private:
  StackSymbolizer& symbolizer();

  const GoProcess& target_;
  const std::size_t max_remembered_;
  std::optional<StackSymbolizer> symbolizer_;
};

}  // namespace goscry
