// One interval of a watched target, as `top` refreshes it: the watch's events taken as they
// come (the kernel wakes the poll), then its counters read at the interval's end. The
// interval ends early on the stop signal or when the target exits; the counters are read
// after an exit too, since they outlive the process until the watch ends.
#pragma once

#include <cstdint>
#include <functional>

#include "agent/probes/target_watch.h"

namespace goscry {

// Whether the target exited during the interval; an error of the watch otherwise (a failed
// read of a target that still runs).
Result<bool> watch_interval(TargetWatch& w, std::uint64_t interval_ns,
                            const std::function<bool()>& stop);

}  // namespace goscry
