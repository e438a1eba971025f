// `goscry agent`: the long-running daemon. Loads the config, serves /metrics and the other
// routes, refreshes its targets every scan interval, reloads on SIGHUP, stops on
// SIGINT/SIGTERM. Signals are taken from a signalfd in the main loop: no work ever runs in
// a signal handler.
#pragma once

#include <functional>
#include <vector>

#include "agent/agent_config.h"
#include "agent/http_server.h"
#include "agent/target_source.h"
#include "exporters/prometheus.h"

namespace goscry {

struct DaemonHooks {
  // More sources of figures (the BPF trackers), asked after the /proc one.
  std::vector<TargetSource*> sources;
  // More routes (/debug/pprof/*), added before the server starts.
  std::function<void(HttpServer&)> add_routes;
  // More series in the agent's registry, added once at start.
  std::function<void(prometheus::Registry&)> add_metrics;
  // The config at start (before the first refresh) and after every good reload.
  std::function<void(const AgentConfig&)> on_config;
  // The agent is stopping: called before the server stops, to end long requests.
  std::function<void()> on_stop;
};

// Returns the exit status: 0 after SIGINT/SIGTERM, 2 when the configuration is bad or the
// server cannot start (one clear sentence logged).
int run_daemon(const ConfigFlags& flags, const DaemonHooks& hooks = {});

}  // namespace goscry
