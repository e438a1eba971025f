// Which tier of goroutine tracking the agent gives a target (docs/agent.md "Goroutine
// tiers"): trace for the pids named by `targets` / --pid (as `goscry top` does for one
// PID) and for every target a `trace:` selector matches; watch for the rest, so `--all`
// costs its targets nothing per goroutine.
#pragma once

#include "agent/daemon/agent_config.h"
#include "agent/daemon/target_source.h"
#include "agent/probes/attacher.h"

namespace goscry {

GoroutineTier goroutine_tier(const AgentConfig& c, const TargetInfo& t);

}  // namespace goscry
