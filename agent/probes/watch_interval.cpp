#include "agent/probes/watch_interval.h"

#include <algorithm>

#include "agent/base/monotonic_clock.h"

namespace goscry {

Result<bool> watch_interval(TargetWatch& w, std::uint64_t interval_ns,
                            const std::function<bool()>& stop) {
  const std::uint64_t until = monotonic_ns() + interval_ns;
  bool exited = false;
  while (!stop() && !exited) {
    const std::uint64_t now = monotonic_ns();
    if (now >= until) break;
    // At most 100 ms at a time: the stop signal and the target's exit are seen that soon.
    if (auto r = w.poll(int(std::min<std::uint64_t>((until - now) / 1000000 + 1, 100))); !r)
      return std::unexpected(r.error());
    exited = !process_alive(w.pid());
  }
  if (auto r = w.refresh(); !r) {
    if (process_alive(w.pid())) return std::unexpected(r.error());
    exited = true;
  }
  return exited;
}

}  // namespace goscry
