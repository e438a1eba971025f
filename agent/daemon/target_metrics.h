// The per-target metric families of docs/agent.md ("Metrics"), fed from TargetFigures. A
// figure a source did not fill in is not exported: with only the /proc source a target
// has just goscry_target_info; the BPF trackers add the goroutine and GC families.
//
// Series per target, at most (the cap docs/agent.md states): 1 info + 3 goroutine
// figures + (site_cap + 1) sites + (site_cap + 1) leak suspect sites + (site_cap + 1)
// allocation sites + 5 GC cycles (one per trigger) + 4 pacer gauges + 1 assist + 3 mark workers + 4 histograms (3 STW phases, mark phase) x (buckets + 1 + sum + count) samples.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/daemon/target_source.h"
#include "exporters/cardinality_cap.h"
#include "exporters/prometheus.h"

namespace goscry {

class TargetMetrics {
 public:
  // pod_labels: the pod labels goscry_target_pod_info carries (config pod_labels), fixed
  // for the family's life since a family's label names cannot change.
  TargetMetrics(prometheus::Registry& registry, size_t site_cap,
                const std::vector<std::string>& pod_labels = {});

  // Takes effect at the next publish of each target (a reload).
  void set_site_cap(size_t cap);
  size_t site_cap() const;

  void publish(const TargetInfo& t, const TargetFigures& f);
  // Drops every series of the target.
  void remove(const TargetInfo& t);

  // Samples (lines) one target may have at most with this cap: for the documented budget.
  static size_t max_samples_per_target(size_t site_cap);
  static size_t stw_phase_count() { return 3; }

 private:
  static prometheus::LabelValues labels(const TargetInfo& t);
  prometheus::LabelValues pod_info_labels(const TargetInfo& t) const;
  void publish_pauses(const TargetInfo& t, const TargetFigures& f);
  void publish_alloc_sites(const TargetInfo& t, const prometheus::LabelValues& l,
                           const std::vector<prometheus::Ranked>& sites);
  void publish_gc_causes(const prometheus::LabelValues& l, const TargetFigures& f);
  void add_totals(prometheus::HistogramFamily& h, const prometheus::LabelValues& l,
                  const PauseCounts& now, PauseCounts& before, size_t nb);

  prometheus::Registry& registry_;
  prometheus::GaugeFamily& info_;
  const std::vector<std::string> pod_labels_;
  prometheus::GaugeFamily& pod_info_;
  prometheus::GaugeFamily& goroutines_;
  prometheus::CounterFamily& created_;
  prometheus::CounterFamily& exited_;
  prometheus::CounterFamily& gc_cycles_;
  prometheus::GaugeFamily& heap_goal_;
  prometheus::GaugeFamily& heap_live_;
  prometheus::GaugeFamily& gogc_;
  prometheus::GaugeFamily& memory_limit_;
  prometheus::CounterFamily& assist_;
  prometheus::CounterFamily& mark_workers_;
  prometheus::HistogramFamily& stw_;
  prometheus::HistogramFamily& mark_;
  mutable std::mutex mu_;
  std::unique_ptr<prometheus::CappedGaugeFamily> by_site_;
  std::unique_ptr<prometheus::CappedGaugeFamily> leaks_;
  // goscry_alloc_bytes_total{site}: a counter, so capped its own way
  // (publish_alloc_sites): the sites that have a series, per (pid, start).
  prometheus::CounterFamily& allocs_;
  size_t alloc_cap_;
  std::map<std::pair<pid_t, std::uint64_t>, std::set<std::string>> alloc_sites_;
  // What was already added to the histogram per (pid, start, phase): BPF counts are
  // totals, the registry's histogram takes increments.
  // The mark phase histogram's totals are kept under the phase name "" here.
  std::map<std::pair<pid_t, std::uint64_t>, std::map<std::string, PauseCounts>> pauses_seen_;
};

}  // namespace goscry
