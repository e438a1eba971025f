// `goscry agent`: the long-running daemon. Loads the config, serves /metrics and the other
// routes, refreshes its targets every scan interval, reloads on SIGHUP, stops on
// SIGINT/SIGTERM. Signals are taken from a signalfd in the main loop: no work ever runs in
// a signal handler.
#pragma once

#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "agent/daemon/agent_config.h"
#include "agent/http/http_server.h"
#include "agent/daemon/target_source.h"
#include "exporters/prometheus.h"

namespace goscry {

struct DaemonHooks {
  // More sources of figures (the BPF trackers), asked after the /proc one.
  std::vector<TargetSource*> sources;
  // More routes (/debug/pprof/*), added before the server starts.
  std::function<void(HttpServer&)> add_routes;
  // More metrics of the agent itself, registered at start (their collectors run at every
  // scrape).
  std::function<void(prometheus::Registry&)> add_metrics;
  // More links on the index page "/": {path, what it is}.
  std::vector<std::pair<std::string, std::string>> links;
  // The config at start (before the first refresh) and after every good reload.
  std::function<void(const AgentConfig&)> on_config;
  // The agent is stopping: called before the server stops, to end long requests.
  std::function<void()> on_stop;
};

// Adds `more` to a hook that may already hold one (several users of one hook): the
// first runs, then `more`.
template <typename... A>
void chain_hook(std::function<void(A...)>& hook,
                std::type_identity_t<std::function<void(A...)>> more) {
  if (!hook) {
    hook = std::move(more);
    return;
  }
  hook = [first = std::move(hook), then = std::move(more)](A... a) {
    first(a...);
    then(a...);
  };
}

// Returns the exit status (agent/base/exit_codes.h): 0 after SIGINT/SIGTERM, 2 when the
// configuration is bad, 1 when the server cannot listen (one clear sentence logged).
int run_daemon(const ConfigFlags& flags, const DaemonHooks& hooks = {});

}  // namespace goscry
