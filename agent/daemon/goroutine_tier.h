// Which tier of goroutine tracking the agent gives a target (docs/agent.md "Goroutine
// tiers"): trace for the pids named by `targets` / --pid (as `goscry top` does for one
// PID) and for every target a `trace:` selector matches; watch for the rest, so `--all`
// costs its targets nothing per goroutine. The target set decides it once per target
// (TargetInfo::tier).
#pragma once

#include <span>

#include "agent/daemon/target_selection.h"
#include "agent/daemon/target_source.h"

namespace goscry {

GoroutineTier goroutine_tier(std::span<const pid_t> named, std::span<const TargetSelector> trace,
                             const TargetInfo& t);

}  // namespace goscry
