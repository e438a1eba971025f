#include "agent/daemon/agent_wiring.h"

#include <memory>

#include "agent/probes/bpf_map_metrics.h"
#include "agent/daemon/bpf_source.h"
#include "agent/daemon/cpu_profiler.h"
#include "agent/daemon/goroutine_routes.h"
#include "agent/daemon/leak_source.h"

namespace goscry {

int run_agent(const ConfigFlags& flags, const TrackerOptions& options) {
  // Destroyed after run_daemon() returns (SIGINT/SIGTERM): the leak source first (it asks
  // the BPF one for counters), then the BPF one, which removes every probe left, then the
  // profiler, whose drain thread on_stop already ended.
  CpuProfiler profiler;
  DaemonHooks hooks;
  profiler.hook_into(hooks);
  std::unique_ptr<BpfTargetSource> bpf;
  std::unique_ptr<LeakSource> leaks;
  if (options.bpf) {
    bpf = std::make_unique<BpfTargetSource>();
    hooks.sources.push_back(bpf.get());
    chain_hook<prometheus::Registry&>(hooks.add_metrics, [b = bpf.get()](prometheus::Registry& r) {
      auto& lost = r.counter("goscry_events_lost_total",
                             "Events and counts the BPF probes lost (ring buffer full, failed "
                             "reads of the target's memory, full maps), all targets.")
                       .with({});
      auto maps = std::make_shared<BpfMapMetrics>(r);
      r.add_collector([&lost, maps, b] {
        lost.set(double(b->events_lost()));
        maps->publish("runtime", b->map_occupancy());
      });
    });
  }
  if (options.leaks) {
    LeakSource::SiteCounters sites;
    LeakSource::BpfStatus status = [](pid_t) { return std::string("off: --no-bpf"); };
    if (bpf) {
      sites = [b = bpf.get()](pid_t pid) { return b->site_counters(pid); };
      status = [b = bpf.get()](pid_t pid) { return b->status(pid); };
    }
    leaks = std::make_unique<LeakSource>(LeakWatchOptions{}, sites, status);
    hooks.sources.push_back(leaks.get());
    chain_hook<HttpServer&>(hooks.add_routes,
                            [l = leaks.get()](HttpServer& server) { add_goroutine_routes(server, *l); });
    hooks.links.push_back({"/api/v1/leaks", "suspected goroutine leaks (JSON)"});
  }
  const int exit_status = run_daemon(flags, hooks);
  leaks.reset();
  bpf.reset();
  return exit_status;
}

}  // namespace goscry
