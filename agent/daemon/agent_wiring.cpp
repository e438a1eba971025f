#include "agent/daemon/agent_wiring.h"

#include <memory>

#include "agent/daemon/bpf_source.h"
#include "agent/daemon/cpu_profiler.h"
#include "agent/daemon/goroutine_routes.h"
#include "agent/daemon/heap_routes.h"
#include "agent/daemon/heap_source.h"
#include "agent/daemon/leak_source.h"
#include "agent/probes/bpf_map_metrics.h"

namespace goscry {

namespace {

// The BPF trackers: a source, and the self metrics of what the probes lost and how full
// the maps are.
std::unique_ptr<BpfTargetSource> plug_bpf(DaemonHooks& hooks) {
  auto bpf = std::make_unique<BpfTargetSource>();
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
  return bpf;
}

// The leak detector: a source fed by the BPF per-site counters when there are any, and
// the goroutine and leak routes.
std::unique_ptr<LeakSource> plug_leaks(DaemonHooks& hooks, BpfTargetSource* bpf) {
  LeakSource::SiteCounters sites;
  LeakSource::BpfStatus status = [](pid_t) { return std::string("off: --no-bpf"); };
  if (bpf) {
    sites = [bpf](pid_t pid) { return bpf->site_counters(pid); };
    status = [bpf](pid_t pid) { return bpf->status(pid); };
  }
  auto leaks = std::make_unique<LeakSource>(LeakWatchOptions{}, sites, status);
  hooks.sources.push_back(leaks.get());
  chain_hook<HttpServer&>(hooks.add_routes, [l = leaks.get()](HttpServer& server) {
    add_goroutine_routes(server, *l);
  });
  hooks.links.push_back({"/api/v1/leaks", "suspected goroutine leaks (JSON)"});
  return leaks;
}

// The memory-read profiles: a source (goscry_alloc_bytes_total{site}) and the heap,
// allocs, block and mutex routes.
std::unique_ptr<HeapSource> plug_heap(DaemonHooks& hooks) {
  auto heap = std::make_unique<HeapSource>();
  hooks.sources.push_back(heap.get());
  chain_hook<HttpServer&>(hooks.add_routes,
                          [h = heap.get()](HttpServer& server) { add_heap_routes(server, *h); });
  chain_hook<>(hooks.on_stop, [h = heap.get()] { h->stop(); });
  hooks.links.push_back({"/debug/pprof/heap?pid=P", "heap profile of target P, as Go's"});
  hooks.links.push_back(
      {"/debug/pprof/allocs?pid=P&seconds=N", "allocations of target P over the next N s"});
  hooks.links.push_back({"/debug/pprof/block?pid=P", "blocking profile of target P, as Go's"});
  hooks.links.push_back({"/debug/pprof/mutex?pid=P", "mutex contention of target P, as Go's"});
  return heap;
}

}  // namespace

int run_agent(const ConfigFlags& flags, const TrackerOptions& options) {
  // Destroyed after run_daemon() returns (SIGINT/SIGTERM): the leak source first (it asks
  // the BPF one for counters), then the BPF one, which removes every probe left, then the
  // profiler, whose drain thread on_stop already ended.
  CpuProfiler profiler;
  DaemonHooks hooks;
  profiler.hook_into(hooks);
  std::unique_ptr<BpfTargetSource> bpf = options.bpf ? plug_bpf(hooks) : nullptr;
  std::unique_ptr<LeakSource> leaks = options.leaks ? plug_leaks(hooks, bpf.get()) : nullptr;
  std::unique_ptr<HeapSource> heap = options.heap ? plug_heap(hooks) : nullptr;
  const int exit_status = run_daemon(flags, hooks);
  heap.reset();
  leaks.reset();
  bpf.reset();
  return exit_status;
}

}  // namespace goscry
