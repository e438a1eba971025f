#include "agent/daemon/goroutine_tier.h"

#include <algorithm>

namespace goscry {

GoroutineTier goroutine_tier(std::span<const pid_t> named, std::span<const TargetSelector> trace,
                             const TargetInfo& t) {
  const bool listed = std::ranges::find(named, t.pid) != named.end();
  const bool selected =
      std::ranges::any_of(trace, [&](const TargetSelector& s) { return selector_matches(s, t); });
  return listed || selected ? GoroutineTier::kTrace : GoroutineTier::kWatch;
}

}  // namespace goscry
