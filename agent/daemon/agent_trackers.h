// What `goscry agent` plugs into the daemon besides /proc: the BPF trackers (goroutines,
// creation sites, GC cycles, STW pauses — agent/daemon/bpf_source.h), the leak detector
// (agent/daemon/leak_source.h) and the goroutine / leak routes (agent/daemon/goroutine_routes.h).
#pragma once

#include "agent/daemon/agent_config.h"
#include "agent/daemon/daemon.h"

namespace goscry {

struct TrackerOptions {
  bool bpf = true;    // --no-bpf: /proc and memory snapshots only
  bool leaks = true;  // leak detector, goroutine and leak routes
};

// run_daemon() with the trackers added to `hooks` (whose own sources and routes stay).
int run_agent(const ConfigFlags& flags, const TrackerOptions& options, DaemonHooks hooks = {});

}  // namespace goscry
