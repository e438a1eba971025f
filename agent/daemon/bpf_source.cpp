#include "agent/daemon/bpf_source.h"

#include <algorithm>
#include <chrono>

#include "agent/base/log.h"
#include "agent/daemon/proc_target.h"
#include "agent/daemon/target_process.h"

namespace goscry {
namespace {

constexpr auto kPollPeriod = std::chrono::milliseconds(200);
constexpr int kPollsPerSiteRead = 5;  // a traced target's figures: once a second
// A watched target's figures (its live count and pacer, read from its memory): every 5 s,
// each target in its own second of the five (by pid), so 100 watched targets cost 20 reads
// a second, not 100. They were 0.44 % of a core in a fleet of 98 (scripts/bench-fleet.sh).
constexpr int kSiteReadsPerWatchRead = 5;
constexpr int kPollsPerMapCount = 50;  // the maps' entries: every 10 s

// The phase of a stop-the-world pause, by the reason the probes read (1.19-1.20's
// m.preemptoff is mapped onto the 1.21+ numbering in BPF).
const char* phase_of(std::uint32_t reason) {
  switch (reason) {
    case GOSCRY_STW_GC_SWEEP_TERM: return "sweep termination";
    case GOSCRY_STW_GC_MARK_TERM: return "mark termination";
    default: return "other";
  }
}

void observe(PauseCounts& c, const std::vector<double>& bounds, double seconds) {
  if (c.buckets.size() != bounds.size() + 1) c.buckets.assign(bounds.size() + 1, 0);
  ++c.buckets[bucket_index(bounds, seconds)];
  c.sum_seconds += seconds;
}

// User sites with live goroutines, largest first; past kMaxSitesPerTarget they are summed
// into one "other" entry, which the cardinality cap folds with the rest.
std::vector<prometheus::Ranked> live_sites(const GoroutineTracker& g, std::size_t max) {
  std::vector<prometheus::Ranked> out;
  for (const auto& [gopc, s] : g.sites())
    if (!s.system && s.live > 0) out.push_back({s.function, double(s.live)});
  if (out.size() <= max) return out;
  std::nth_element(out.begin(), out.begin() + std::ptrdiff_t(max), out.end(),
                   [](const auto& a, const auto& b) { return a.value > b.value; });
  double rest = 0;
  for (std::size_t i = max; i < out.size(); ++i) rest += out[i].value;
  out.resize(max);
  out.push_back({std::string(prometheus::kFoldedLabelValue), rest});
  return out;
}

}  // namespace

BpfTargetSource::BpfTargetSource()
    : worker_("goscry-bpf", kPollPeriod, PeriodicWorker::every(kPollPeriod, [this] { poll(); })) {
  auto loader = BpfLoader::open();
  if (loader) {
    loader_ = std::move(*loader);
  } else {
    loader_error_ = loader.error();
    log::warn("BPF trackers off: targets get /proc figures only",
              {{"error", loader_error_->message}});
  }
}

BpfTargetSource::~BpfTargetSource() {
  worker_.stop();
  std::lock_guard lock(loader_mu_);
  for (auto& [pid, t] : targets_) {
    if (!t.watch) continue;
    t.watch.reset();  // every probe and map entry goes before the loader
    log::info("BPF probes removed: agent stopping", {{"pid", std::to_string(pid)}});
  }
  targets_.clear();
  loader_.reset();
}

Result<void> BpfTargetSource::attach(const TargetInfo& info) {
  std::lock_guard lock(loader_mu_);
  if (!loader_) return std::unexpected(*loader_error_);
  // The target's shared handle: the leak, heap and CPU sources read through the same one.
  auto go = info.process->get();
  if (!go) return std::unexpected(go.error());
  auto watch = TargetWatch::open(*go, loader_.get(), info.tier);
  release_binary_pages(**go);  // the probe sites were looked up in its code
  if (!watch) return std::unexpected(watch.error());
  // Started here, not in the constructor: a thread made by the daemon's thread after it
  // blocked SIGINT/SIGTERM/SIGHUP (daemon.cpp) inherits the mask, so a signal can only be
  // taken by the daemon's signalfd, never kill the agent through this thread.
  worker_.start();
  Target t{info, std::move(*watch), {}, {}};
  // Every phase is exported from the start (as zeros), so the histograms' series exist
  // before the first pause: rate() and sum() over phases see them.
  for (const char* phase : {"sweep termination", "mark termination", "other"})
    t.pauses[phase].buckets.assign(kStwPauseBucketsSeconds.size() + 1, 0);
  t.mark_phase.buckets.assign(kMarkPhaseBucketsSeconds.size() + 1, 0);
  log::info("BPF probes attached", {{"pid", std::to_string(info.pid)},
                                    {"go_version", info.go_version},
                                    {"tier", tier_name(info.tier)}});
  Published p = publish(t);
  targets_[info.pid] = std::move(t);
  std::lock_guard figures(figures_mu_);
  published_[info.pid] = std::move(p);
  return {};
}

void BpfTargetSource::detach(const TargetInfo& info) {
  {
    std::lock_guard lock(loader_mu_);
    auto it = targets_.find(info.pid);
    if (it != targets_.end() && it->second.info.start_ticks == info.start_ticks)
      targets_.erase(it);  // ~TargetWatch: probes, then map entries
  }
  std::lock_guard figures(figures_mu_);
  auto it = published_.find(info.pid);
  if (it != published_.end() && it->second.start_ticks == info.start_ticks) published_.erase(it);
}

void BpfTargetSource::read(const TargetInfo& info, TargetFigures& f) {
  std::lock_guard lock(figures_mu_);
  auto it = published_.find(info.pid);
  if (it == published_.end() || it->second.start_ticks != info.start_ticks) return;
  const TargetFigures& p = it->second.figures;
  f.goroutines = p.goroutines;
  f.goroutines_created_total = p.goroutines_created_total;
  f.goroutines_exited_total = p.goroutines_exited_total;
  f.goroutines_by_site = p.goroutines_by_site;
  f.gc_cycles_total = p.gc_cycles_total;
  f.gc_cycles_by_trigger = p.gc_cycles_by_trigger;
  f.go_heap_goal_bytes = p.go_heap_goal_bytes;
  f.go_heap_live_bytes = p.go_heap_live_bytes;
  f.go_gogc_percent = p.go_gogc_percent;
  f.go_memory_limit_bytes = p.go_memory_limit_bytes;
  f.gc_assist_seconds_total = p.gc_assist_seconds_total;
  f.gc_mark_worker_seconds_total = p.gc_mark_worker_seconds_total;
  f.stw_pauses = p.stw_pauses;
  f.gc_mark_phase = p.gc_mark_phase;
}

std::optional<std::unordered_map<std::uint64_t, SiteCounter>> BpfTargetSource::site_counters(
    pid_t pid) const {
  std::lock_guard lock(figures_mu_);
  auto it = published_.find(pid);
  if (it == published_.end() || !it->second.traced) return std::nullopt;
  return it->second.sites;
}

std::string BpfTargetSource::status(pid_t pid) const {
  std::lock_guard lock(figures_mu_);
  auto it = published_.find(pid);
  if (it != published_.end()) return it->second.status;
  return "off: " + (loader_error_ ? loader_error_->message : std::string("not attached"));
}

void BpfTargetSource::poll() {
  const int n = polls_++;
  poll_once(n % kPollsPerSiteRead == 0 ? std::optional(n / kPollsPerSiteRead) : std::nullopt);
  if (n % kPollsPerMapCount == 0) count_map_entries();
}

void BpfTargetSource::count_map_entries() {
  std::vector<MapOccupancy> counted;
  {
    std::lock_guard lock(loader_mu_);
    if (!loader_) return;
    counted = loader_->map_occupancy();
  }
  std::lock_guard figures(figures_mu_);
  occupancy_ = std::move(counted);
}

std::vector<MapOccupancy> BpfTargetSource::map_occupancy() const {
  std::lock_guard lock(figures_mu_);
  return occupancy_;
}

void BpfTargetSource::on_event(const goscry_event& e) {
  auto it = targets_.find(pid_t(e.tgid));
  if (it == targets_.end() || !it->second.watch) return;
  Target& t = it->second;
  const GcUpdate u = t.watch->feed(e);
  if (e.kind == GOSCRY_EV_STW)
    observe(t.pauses[phase_of(e.reason)], kStwPauseBucketsSeconds,
            double(e.end_ns - e.start_ns) / 1e9);
  if (u.cycle && u.cycle->whole)
    observe(t.mark_phase, kMarkPhaseBucketsSeconds, double(u.cycle->mark_phase_ns) / 1e9);
}

void BpfTargetSource::poll_once(std::optional<int> site_round) {
  const bool read_sites = site_round.has_value();
  std::map<pid_t, Published> fresh;
  {
    std::lock_guard lock(loader_mu_);
    if (!loader_ || targets_.empty()) return;
    if (auto r = loader_->drain([this](const goscry_event& e) { on_event(e); }); !r)
      log::warn("BPF ring buffer", {{"error", r.error().message}});
    if (read_sites) lost_ = goscry::events_lost(*loader_);
    for (auto& [pid, t] : targets_) {
      // Once a second, not at every poll: a /proc read per target five times a second was
      // most of this thread's cost with 100 targets.
      if (!t.watch || !read_sites) continue;
      if (t.watch->tier() == GoroutineTier::kWatch &&
          (*site_round + pid) % kSiteReadsPerWatchRead != 0)
        continue;
      const bool gone = !target_alive(t.info);
      // The last counts of a target that exited, then its probes go.
      if (auto r = t.watch->update_sites(); !r && !gone)
        log::warn("BPF site counters", {{"pid", std::to_string(pid)}, {"error", r.error().message}});
      fresh[pid] = publish(t);
      if (gone) {
        t.watch.reset();
        log::info("BPF probes removed: target exited", {{"pid", std::to_string(pid)}});
      }
    }
  }
  std::lock_guard figures(figures_mu_);
  for (auto& [pid, p] : fresh) {
    auto it = published_.find(pid);
    if (it != published_.end() && it->second.start_ticks == p.start_ticks)
      it->second = std::move(p);
  }
}

namespace {

// Why the target's cycles ran and the pacer in force (docs/metrics.md): the counts and
// CPU from the cycles seen (the CPU only while every cycle's was read: a partial sum would
// be a wrong total), the pacer read from the target's memory now.
void publish_gc_causes(const TargetWatch& w, TargetFigures& f) {
  const GcCauses& c = w.gc().causes();
  // Every trigger, 0 included: a counter the probes measure is 0, not absent, before its
  // first cycle (a sum over triggers must exist from attach on).
  std::map<std::string, std::uint64_t> by_trigger;
  for (auto t : {GcTrigger::kHeap, GcTrigger::kTime, GcTrigger::kRuntimeGC,
                 GcTrigger::kFreeOSMemory, GcTrigger::kUnknown})
    by_trigger[gc_trigger_name(t)] = 0;
  for (const auto& [t, n] : c.cycles) by_trigger[gc_trigger_name(t)] = n;
  std::uint64_t total = 0;
  for (const auto& [t, n] : by_trigger) total += n;
  f.gc_cycles_by_trigger = std::move(by_trigger);
  if (c.cpu_cycles == total) {
    f.gc_assist_seconds_total = c.assist_s;
    f.gc_mark_worker_seconds_total = std::map<std::string, double>{
        {"dedicated", c.dedicated_s}, {"fractional", c.fractional_s}, {"idle", c.idle_s}};
  }
  if (auto p = w.gc_pacer()) {
    f.go_heap_goal_bytes = p->heap_goal;
    f.go_heap_live_bytes = p->heap_live;
    f.go_gogc_percent = p->gogc;
    f.go_memory_limit_bytes = p->memory_limit;
  }
}

}  // namespace

BpfTargetSource::Published BpfTargetSource::publish(const Target& t) const {
  Published p;
  p.start_ticks = t.info.start_ticks;
  if (!t.watch) return p;
  if (t.watch->tier() == GoroutineTier::kTrace) {
    const GoroutineTracker& g = t.watch->goroutines();
    const GoroutineTotals totals = g.totals();
    p.figures.goroutines = std::uint64_t(std::max<std::int64_t>(totals.live, 0));
    p.figures.goroutines_created_total = totals.created;
    p.figures.goroutines_exited_total = totals.exited;
    p.figures.goroutines_by_site = live_sites(g, kMaxSitesPerTarget);
    for (const auto& c : t.watch->site_counts()) p.sites[c.gopc] = {c.created, c.exited};
    p.traced = true;
  } else if (auto live = t.watch->live_goroutines()) {
    // Watch: created/exited exist only where the probes count them, so they stay absent;
    // the sites' live counts come from the leak detector's reads of allgs (leak_source).
    p.figures.goroutines = std::uint64_t(*live);
  }
  p.figures.gc_cycles_total = t.watch->gc().cycles();
  publish_gc_causes(*t.watch, p.figures);
  p.figures.stw_pauses = t.pauses;
  p.figures.gc_mark_phase = t.mark_phase;
  p.status = "on (" + std::to_string(t.watch->probe_count()) + " probes, " +
             tier_name(t.watch->tier()) + " tier)";
  return p;
}

}  // namespace goscry
