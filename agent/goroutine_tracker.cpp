#include "agent/goroutine_tracker.h"

#include <algorithm>

#include "agent/creation_site.h"

namespace goscry {

bool is_system_start_function(std::string_view f) {
  // runtime.isSystemGoroutine (traceback.go, 1.19-1.27): runtime.main, runtime.corostart
  // (1.23+) and runtime.handleAsyncEvent (wasm) are user goroutines; the finalizer and
  // cleanup goroutines are system ones when created, which is when sched.ngsys counts them.
  if (f == "runtime.main" || f == "runtime.corostart" || f == "runtime.handleAsyncEvent")
    return false;
  return f.starts_with("runtime.");
}

bool GoroutineTracker::system_start(std::uint64_t startpc) {
  auto [it, fresh] = system_by_startpc_.try_emplace(startpc, false);
  if (fresh) {
    auto f = symbols_->function_at(startpc - bias_);
    it->second = f && is_system_start_function(f->name);
  }
  return it->second;
}

SiteStats& GoroutineTracker::site(std::uint64_t gopc, std::uint64_t startpc) {
  auto [it, fresh] = sites_.try_emplace(gopc);
  SiteStats& s = it->second;
  if (fresh) {
    s.gopc = gopc;
    const CreationSite c = creation_site(*symbols_, gopc - bias_);
    s.name = c.display();
    s.function = c.function;
    s.file = c.file;
    s.line = c.line;
  }
  if (startpc != 0 && s.start_function.empty()) {
    auto f = symbols_->function_at(startpc - bias_);
    s.start_function = f ? f->name : to_hex(startpc);
    s.system = system_start(startpc);
  }
  return s;
}

void GoroutineTracker::set_snapshot(const GoroutineSnapshot& snap,
                                    const std::function<bool(std::uint64_t)>& seen_born) {
  for (const auto& g : snap.alive) {
    if (seen_born(g.goid)) continue;  // the probes count it
    site(g.gopc, g.startpc);
    // A site mixes nothing: the runtime's rule looks at each g's own start function.
    if (system_start(g.startpc)) continue;
    snapshot_.emplace(g.goid, Member{g.gopc});
    ++snapshot_live_[g.gopc];
    ++snapshot_alive_;
  }
  recompute(last_ns_);
}

void GoroutineTracker::on_event(const goscry_event& e) {
  if (e.kind != GOSCRY_EV_GO_EXIT_UNTRACKED) return;
  site(e.gopc, e.startpc);
  if (system_start(e.startpc)) return;
  auto it = snapshot_.find(e.goid);
  if (it == snapshot_.end()) {
    ++untracked_user_exits_;  // ended before the snapshot read it, or evicted from the LRU
  } else {
    --snapshot_live_[it->second.gopc];
    ++snapshot_exited_[it->second.gopc];
    snapshot_.erase(it);
  }
}

void GoroutineTracker::update(const std::vector<SiteCounts>& counts, std::uint64_t now_ns) {
  for (const auto& c : counts) {
    site(c.gopc, c.startpc);
    probe_counts_[c.gopc] = c;
  }
  recompute(now_ns);
}

void GoroutineTracker::recompute(std::uint64_t now_ns) {
  GoroutineTotals t;
  for (auto& [gopc, s] : sites_) {
    const std::int64_t before = s.live;
    const auto pc = probe_counts_.find(gopc);
    const std::uint64_t created = pc == probe_counts_.end() ? 0 : pc->second.created;
    const std::uint64_t exited = pc == probe_counts_.end() ? 0 : pc->second.exited;
    const auto live0 = snapshot_live_.find(gopc);
    const auto exited0 = snapshot_exited_.find(gopc);
    s.created = created;
    s.exited = exited + (exited0 == snapshot_exited_.end() ? 0 : exited0->second);
    s.live = std::int64_t(created) - std::int64_t(exited) +
             (live0 == snapshot_live_.end() ? 0 : live0->second);
    s.growth = s.live - before;
    if (s.system) continue;
    t.live += s.live;
    t.created += s.created;
    t.exited += s.exited;
  }
  t.exited += untracked_user_exits_;
  if (last_ns_ != 0 && now_ns > last_ns_) {
    const double secs = double(now_ns - last_ns_) / 1e9;
    t.created_per_s = double(t.created - totals_.created) / secs;
    t.exited_per_s = double(t.exited - totals_.exited) / secs;
  }
  if (now_ns) last_ns_ = now_ns;
  totals_ = t;
}

namespace {
std::vector<SiteStats> top(const std::map<std::uint64_t, SiteStats>& sites, std::size_t n,
                           bool (*before)(const SiteStats&, const SiteStats&)) {
  std::vector<SiteStats> v;
  for (const auto& [gopc, s] : sites)
    if (!s.system) v.push_back(s);
  std::sort(v.begin(), v.end(), before);
  if (v.size() > n) v.resize(n);
  return v;
}
}  // namespace

std::vector<SiteStats> GoroutineTracker::top_by_live(std::size_t n) const {
  return top(sites_, n, [](const SiteStats& a, const SiteStats& b) {
    return a.live != b.live ? a.live > b.live : a.growth > b.growth;
  });
}

std::vector<SiteStats> GoroutineTracker::top_by_growth(std::size_t n) const {
  return top(sites_, n, [](const SiteStats& a, const SiteStats& b) {
    return a.growth != b.growth ? a.growth > b.growth : a.live > b.live;
  });
}

}  // namespace goscry
