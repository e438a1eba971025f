// /metrics render time and size at the size issue 4 sets the goal for: 100 targets, each
// with the per-target metrics of docs/agent.md "Metrics" and top-50 creation sites.
// Goal: render < 5 ms. Reports bytes and series per render as counters.
#include <benchmark/benchmark.h>

#include <string>

#include "exporters/cardinality_cap.h"
#include "exporters/process_metrics.h"
#include "exporters/prometheus.h"

namespace {

using namespace goscry::prometheus;

constexpr int kTargets = 100;
constexpr int kSitesPerTarget = 200;  // more than the cap, so the fold is exercised
constexpr size_t kTopSites = 50;

std::string site_name(int t, int s) {
  return "example.com/service" + std::to_string(t % 7) + "/internal/handler.(*Server[...])." +
         "ServeHTTP.func" + std::to_string(s);
}

std::vector<Ranked> sites_of(int t) {
  std::vector<Ranked> v;
  for (int s = 0; s < kSitesPerTarget; ++s)
    v.push_back({site_name(t, s), double((s * 37 + t) % 1000)});
  return v;
}

// The agent's registry at the benchmark's size.
struct AgentLikeRegistry {
  Registry r;
  CappedGaugeFamily sites{r,
                          "goscry_goroutines_by_creation_site",
                          "Live goroutines by creation site (top 50 per target, then \"other\").",
                          {"pid", "exe", "go_version"},
                          "site",
                          kTopSites};
  AgentLikeRegistry() {
    const std::vector<std::string> target = {"pid", "exe", "go_version"};
    auto& goroutines = r.gauge("goscry_goroutines", "Live goroutines.", target);
    auto& created = r.counter("goscry_goroutines_created_total", "Goroutines created.", target);
    auto& exited = r.counter("goscry_goroutines_exited_total", "Goroutines exited.", target);
    auto& cycles = r.counter("goscry_gc_cycles_total", "GC cycles.", target);
    auto& leaks = r.gauge("goscry_goroutine_leak_suspects", "Suspected leaks.", target);
    std::vector<std::string> with_phase = target;
    with_phase.push_back("phase");
    const std::vector<double> pause_buckets = {1e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4,
                                               5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 0.1};
    auto& stw =
        r.histogram("goscry_gc_stw_pause_seconds", "STW pauses.", with_phase, pause_buckets);
    auto& mark = r.histogram("goscry_gc_mark_phase_seconds", "GC mark phase.", target,
                             {1e-4, 1e-3, 1e-2, 0.1, 1, 10});
    register_process_metrics(r);
    r.counter("goscry_events_lost_total", "Events lost.").with({}).inc(3);
    r.gauge("goscry_targets", "Targets tracked.").with({}).set(kTargets);
    for (int t = 0; t < kTargets; ++t) {
      LabelValues labels = {std::to_string(10000 + t), "/srv/bin/service" + std::to_string(t),
                            "go1.2" + std::to_string(t % 8) + ".3"};
      goroutines.with(labels).set(100 + t);
      created.with(labels).inc(1e6 + t);
      exited.with(labels).inc(1e6 - t);
      cycles.with(labels).inc(1234);
      leaks.with(labels).set(t % 3);
      for (const char* phase : {"sweep_termination", "mark_termination"}) {
        LabelValues p = labels;
        p.push_back(phase);
        for (int i = 0; i < 100; ++i) stw.with(p).observe(1e-6 * (i * i % 500));
      }
      for (int i = 0; i < 50; ++i) mark.with(labels).observe(1e-3 * i);
      sites.update(labels, sites_of(t));
    }
  }
};

void BM_RenderMetrics(benchmark::State& state) {
  AgentLikeRegistry agent;
  size_t bytes = 0;
  for (auto _ : state) {
    std::string out = agent.r.render();
    bytes = out.size();
    benchmark::DoNotOptimize(out);
  }
  state.counters["bytes"] = double(bytes);
  state.counters["series"] = double(agent.r.series_count());
}
BENCHMARK(BM_RenderMetrics)->Unit(benchmark::kMillisecond);

// The cost of refreshing every target's top-50 sites from 200 candidates each.
void BM_UpdateCappedSites(benchmark::State& state) {
  AgentLikeRegistry agent;
  std::vector<std::vector<Ranked>> all;
  for (int t = 0; t < kTargets; ++t) all.push_back(sites_of(t));
  for (auto _ : state) {
    for (int t = 0; t < kTargets; ++t)
      agent.sites.update({std::to_string(10000 + t), "/srv/bin/service" + std::to_string(t),
                          "go1.2" + std::to_string(t % 8) + ".3"},
                         all[t]);
  }
}
BENCHMARK(BM_UpdateCappedSites)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
