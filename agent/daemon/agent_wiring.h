// The one place `goscry agent` is wired: what it plugs into the daemon's loop (daemon.h)
// besides /proc — the BPF trackers (goroutines, creation sites, GC cycles, STW pauses —
// agent/daemon/bpf_source.h), the leak detector (agent/daemon/leak_source.h) with the
// goroutine / leak routes (agent/daemon/goroutine_routes.h), and the continuous CPU
// profiler with its route and Pyroscope push (agent/daemon/cpu_profiler.h) — and in which
// order they start and stop. The verb (cli/agent_verb.cpp) only reads the command line.
#pragma once

#include "agent/daemon/agent_config.h"
#include "agent/daemon/daemon.h"

namespace goscry {

struct TrackerOptions {
  bool bpf = true;    // --no-bpf: /proc and memory snapshots only
  bool leaks = true;  // leak detector, goroutine and leak routes
  bool heap = true;   // heap profiles: the heap and allocs routes, goscry_alloc_bytes_total
};

// run_daemon() with every source, route and metric of the agent plugged in.
int run_agent(const ConfigFlags& flags, const TrackerOptions& options);

}  // namespace goscry
