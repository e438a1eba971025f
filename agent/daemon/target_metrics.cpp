#include "agent/daemon/target_metrics.h"

#include "agent/daemon/kube_pods.h"

namespace goscry {
namespace {

// On every per-target series, not only on goscry_target_info: the three container labels
// are fixed for a process's life, so they add no series and no churn, only bytes per line,
// and `sum by (namespace, pod)` then needs no group_left join (docs/metrics.md).
const std::vector<std::string> kTargetLabels = {"pid",          "exe", "go_version",
                                                "container_id", "pod", "namespace"};

std::vector<std::string> with_label(const char* name) {
  auto l = kTargetLabels;
  l.push_back(name);
  return l;
}

std::vector<std::string> with_phase() { return with_label("phase"); }

// The labels of a target plus one more value.
prometheus::LabelValues plus(prometheus::LabelValues l, const std::string& v) {
  l.push_back(v);
  return l;
}

// GcTrigger's labels (agent/probes/gc_cycles.h): a target has at most these five.
constexpr std::size_t kGcTriggers = 5;
constexpr std::size_t kMarkWorkerKinds = 3;

// The two top-N per-site families (live goroutines, leak suspects): same labels, same cap.
std::unique_ptr<prometheus::CappedGaugeFamily> make_site_family(prometheus::Registry& r,
                                                               const char* name,
                                                               const std::string& what,
                                                               size_t cap) {
  return std::make_unique<prometheus::CappedGaugeFamily>(
      r, name,
      what + " per creation site (go statement's function), top N sites per target; the rest "
             "summed in site=\"other\".",
      kTargetLabels, "site", cap);
}

std::unique_ptr<prometheus::CappedGaugeFamily> make_by_site(prometheus::Registry& r, size_t cap) {
  return make_site_family(r, "goscry_goroutines_by_creation_site", "Live goroutines", cap);
}

std::unique_ptr<prometheus::CappedGaugeFamily> make_leaks(prometheus::Registry& r, size_t cap) {
  return make_site_family(r, "goscry_goroutine_leak_suspects",
                          "Goroutines in suspected leaks", cap);
}

// goscry_target_pod_info: pid to join on, who the target is in Kubernetes, then one
// label_<key> per configured pod label.
std::vector<std::string> pod_info_label_names(const std::vector<std::string>& pod_labels) {
  std::vector<std::string> names = {"pid", "container_id", "namespace", "pod", "container"};
  for (const auto& k : pod_labels) names.push_back(pod_label_metric_name(k));
  return names;
}

}  // namespace

TargetMetrics::TargetMetrics(prometheus::Registry& registry, size_t site_cap,
                             const std::vector<std::string>& pod_labels)
    : registry_(registry),
      info_(registry.gauge("goscry_target_info",
                           "A Go process goscry tracks (1); its series stay for the grace "
                           "period after it exits.",
                           kTargetLabels)),
      pod_labels_(pod_labels),
      pod_info_(registry.gauge("goscry_target_pod_info",
                               "A target whose container the Kubernetes pod list knows (1): its "
                               "container's name and the pod labels of the config's pod_labels; "
                               "join on pid.",
                               pod_info_label_names(pod_labels))),
      goroutines_(registry.gauge("goscry_goroutines", "Live goroutines of the target.",
                                 kTargetLabels)),
      created_(registry.counter("goscry_goroutines_created_total",
                                "Goroutines the target created since goscry attached.",
                                kTargetLabels)),
      exited_(registry.counter("goscry_goroutines_exited_total",
                               "Goroutines of the target that exited since goscry attached.",
                               kTargetLabels)),
      gc_cycles_(registry.counter("goscry_gc_cycles_total",
                                  "GC cycles of the target since goscry attached, by what "
                                  "triggered them.",
                                  with_label("trigger"))),
      heap_goal_(registry.gauge("goscry_go_heap_goal_bytes",
                                "The target's heap goal in force (runtime/metrics "
                                "/gc/heap/goal:bytes).",
                                kTargetLabels)),
      heap_live_(registry.gauge("goscry_go_heap_live_bytes",
                                "The target's live heap as its GC pacer counts it "
                                "(gcController.heapLive).",
                                kTargetLabels)),
      gogc_(registry.gauge("goscry_go_gogc_percent",
                           "GOGC in force in the target; -1 = off.", kTargetLabels)),
      memory_limit_(registry.gauge("goscry_go_memory_limit_bytes",
                                   "GOMEMLIMIT in force in the target (math.MaxInt64 = none).",
                                   kTargetLabels)),
      assist_(registry.counter("goscry_gc_assist_seconds_total",
                               "CPU the target's goroutines spent in GC mark assists in the "
                               "cycles since goscry attached.",
                               kTargetLabels)),
      mark_workers_(registry.counter("goscry_gc_mark_worker_seconds_total",
                                     "CPU of the target's GC mark workers in the cycles since "
                                     "goscry attached, by kind.",
                                     with_label("kind"))),
      stw_(registry.histogram("goscry_gc_stw_pause_seconds",
                              "Stop-the-world pauses of the target, by phase.", with_phase(),
                              kStwPauseBucketsSeconds)),
      mark_(registry.histogram("goscry_gc_mark_phase_seconds",
                               "Concurrent mark phases of the target's GC cycles.",
                               kTargetLabels, kMarkPhaseBucketsSeconds)),
      by_site_(make_by_site(registry, site_cap)),
      leaks_(make_leaks(registry, site_cap)),
      allocs_(registry.counter(
          "goscry_alloc_bytes_total",
          "Bytes the target allocated since it started per allocating function (alloc_space "
          "of its heap profile, unsampled, as of its last GC); the first site_cap sites seen "
          "keep a series for the target's life, the rest summed in site=\"other\".",
          with_label("site"))),
      alloc_cap_(site_cap) {}

void TargetMetrics::set_site_cap(size_t cap) {
  if (site_cap() == cap) return;
  // Made outside mu_: registering takes the registry's write lock, which waits for renders
  // in progress, whose collectors may be waiting for mu_ in publish().
  auto next = make_by_site(registry_, cap);
  auto next_leaks = make_leaks(registry_, cap);
  std::lock_guard lock(mu_);
  by_site_ = std::move(next);
  leaks_ = std::move(next_leaks);
  // The allocation sites start over under the new cap: new series, never a fall.
  allocs_.clear();
  alloc_sites_.clear();
  alloc_cap_ = cap;
}

size_t TargetMetrics::site_cap() const {
  std::lock_guard lock(mu_);
  return by_site_->cap();
}

size_t TargetMetrics::max_samples_per_target(size_t site_cap) {
  size_t per_histogram = kStwPauseBucketsSeconds.size() + 1 + 2;  // buckets, +Inf, sum, count
  size_t per_mark = kMarkPhaseBucketsSeconds.size() + 1 + 2;
  return 1 + 3 + 3 * (site_cap + 1) + kGcTriggers + 4 + 1 + kMarkWorkerKinds +
         stw_phase_count() * per_histogram + per_mark;
}

prometheus::LabelValues TargetMetrics::labels(const TargetInfo& t) {
  return {std::to_string(t.pid), t.exe, t.go_version, t.container_id, t.pod, t.kube_namespace};
}

prometheus::LabelValues TargetMetrics::pod_info_labels(const TargetInfo& t) const {
  prometheus::LabelValues l = {std::to_string(t.pid), t.container_id, t.kube_namespace, t.pod,
                               t.container};
  for (const auto& k : pod_labels_) {
    auto it = t.pod_labels.find(k);
    l.push_back(it == t.pod_labels.end() ? "" : it->second);
  }
  return l;
}

void TargetMetrics::publish_gc_causes(const prometheus::LabelValues& l, const TargetFigures& f) {
  if (f.gc_cycles_by_trigger) {
    for (const auto& [trigger, n] : *f.gc_cycles_by_trigger)
      gc_cycles_.with(plus(l, trigger)).set(double(n));
  } else if (f.gc_cycles_total) {
    gc_cycles_.with(plus(l, "unknown")).set(double(*f.gc_cycles_total));
  }
  if (f.go_heap_goal_bytes) heap_goal_.with(l).set(double(*f.go_heap_goal_bytes));
  if (f.go_heap_live_bytes) heap_live_.with(l).set(double(*f.go_heap_live_bytes));
  if (f.go_gogc_percent) gogc_.with(l).set(double(*f.go_gogc_percent));
  if (f.go_memory_limit_bytes) memory_limit_.with(l).set(double(*f.go_memory_limit_bytes));
  if (f.gc_assist_seconds_total) assist_.with(l).set(*f.gc_assist_seconds_total);
  if (f.gc_mark_worker_seconds_total)
    for (const auto& [kind, s] : *f.gc_mark_worker_seconds_total)
      mark_workers_.with(plus(l, kind)).set(s);
}

void TargetMetrics::publish(const TargetInfo& t, const TargetFigures& f) {
  auto l = labels(t);
  info_.with(l).set(1);
  if (!t.container.empty()) pod_info_.with(pod_info_labels(t)).set(1);
  if (f.goroutines) goroutines_.with(l).set(double(*f.goroutines));
  if (f.goroutines_created_total) created_.with(l).set(double(*f.goroutines_created_total));
  if (f.goroutines_exited_total) exited_.with(l).set(double(*f.goroutines_exited_total));
  publish_gc_causes(l, f);
  std::lock_guard lock(mu_);
  if (f.goroutines_by_site) by_site_->update(l, *f.goroutines_by_site);
  if (f.leak_suspects_by_site) leaks_->update(l, *f.leak_suspects_by_site);
  if (f.alloc_bytes_by_site) publish_alloc_sites(t, l, *f.alloc_bytes_by_site);
  publish_pauses(t, f);
}

// A counter never falls, so a site never moves between a series of its own and "other"
// (which would fall when a site left it): the largest sites seen while fewer than the cap
// have a series keep it for the target's life; later ones are summed in "other". Each
// site's figure only grows (the runtime never lowers a bucket's allocation counts), and so
// does "other". Under mu_.
void TargetMetrics::publish_alloc_sites(const TargetInfo& t, const prometheus::LabelValues& l,
                                        const std::vector<prometheus::Ranked>& sites) {
  auto& kept = alloc_sites_[{t.pid, t.start_ticks}];
  auto ranked = prometheus::top_n(sites, sites.size());
  for (const auto& r : ranked.kept)
    if (kept.size() < alloc_cap_) kept.insert(r.label);
  double other = ranked.other;  // a site literally named "other"
  bool folded = ranked.folded > 0;
  for (const auto& r : ranked.kept) {
    if (kept.count(r.label)) {
      allocs_.with(plus(l, r.label)).set(r.value);
    } else {
      other += r.value;
      folded = true;
    }
  }
  if (folded) allocs_.with(plus(l, std::string(prometheus::kFoldedLabelValue))).set(other);
}

// Adds what grew since the last publish; a source that restarted its counts (smaller
// totals) starts the series over from its new totals.
void TargetMetrics::publish_pauses(const TargetInfo& t, const TargetFigures& f) {
  auto& seen = pauses_seen_[{t.pid, t.start_ticks}];
  for (const auto& [phase, now] : f.stw_pauses) {
    auto l = labels(t);
    l.push_back(phase);
    add_totals(stw_, l, now, seen[phase], kStwPauseBucketsSeconds.size() + 1);
  }
  if (f.gc_mark_phase)
    add_totals(mark_, labels(t), *f.gc_mark_phase, seen[""], kMarkPhaseBucketsSeconds.size() + 1);
}

// Adds what grew since the last publish; a source that restarted its counts (smaller
// totals) starts the series over from its new totals.
void TargetMetrics::add_totals(prometheus::HistogramFamily& family,
                               const prometheus::LabelValues& l, const PauseCounts& now,
                               PauseCounts& before, size_t nb) {
  if (now.buckets.size() != nb) return;  // a source bug; never export a wrong shape
  bool restarted = before.buckets.size() != nb;
  for (size_t i = 0; !restarted && i < nb; ++i) restarted = now.buckets[i] < before.buckets[i];
  if (restarted) {
    family.remove(l);
    before = PauseCounts{std::vector<std::uint64_t>(nb, 0), 0};
  }
  auto& h = family.with(l);
  double sum_delta = now.sum_seconds - before.sum_seconds;
  for (size_t i = 0; i < nb; ++i) {
    std::uint64_t delta = now.buckets[i] - before.buckets[i];
    if (delta == 0) continue;
    h.add_to_bucket(i, delta, sum_delta);  // the whole sum delta goes with the first bucket
    sum_delta = 0;
  }
  before = now;
}

void TargetMetrics::remove(const TargetInfo& t) {
  auto l = labels(t);
  info_.remove(l);
  if (!t.container.empty()) pod_info_.remove(pod_info_labels(t));
  goroutines_.remove(l);
  created_.remove(l);
  exited_.remove(l);
  for (const char* trigger : {"heap", "time", "runtime.GC", "debug.FreeOSMemory", "unknown"})
    gc_cycles_.remove(plus(l, trigger));
  for (auto* g : {&heap_goal_, &heap_live_, &gogc_, &memory_limit_}) g->remove(l);
  assist_.remove(l);
  for (const char* k : {"dedicated", "fractional", "idle"}) mark_workers_.remove(plus(l, k));
  std::lock_guard lock(mu_);
  by_site_->remove(l);
  leaks_->remove(l);
  for (const auto& site : alloc_sites_[{t.pid, t.start_ticks}]) allocs_.remove(plus(l, site));
  allocs_.remove(plus(l, std::string(prometheus::kFoldedLabelValue)));
  alloc_sites_.erase({t.pid, t.start_ticks});
  mark_.remove(l);
  auto seen = pauses_seen_.find({t.pid, t.start_ticks});
  if (seen == pauses_seen_.end()) return;
  for (const auto& [phase, counts] : seen->second) {
    if (phase.empty()) continue;  // the mark phase, removed above
    auto with = l;
    with.push_back(phase);
    stw_.remove(with);
  }
  pauses_seen_.erase(seen);
}

}  // namespace goscry
