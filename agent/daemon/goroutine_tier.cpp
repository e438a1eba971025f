#include "agent/daemon/goroutine_tier.h"

#include <algorithm>

namespace goscry {

GoroutineTier goroutine_tier(const AgentConfig& c, const TargetInfo& t) {
  const bool named = std::ranges::find(c.targets, t.pid) != c.targets.end();
  const bool selected = std::ranges::any_of(
      c.trace, [&](const TargetSelector& s) { return selector_matches(s, t); });
  return named || selected ? GoroutineTier::kTrace : GoroutineTier::kWatch;
}

}  // namespace goscry
