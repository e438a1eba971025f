#include "agent/probes/goroutine_tracker.h"

#include <algorithm>

#include "agent/goruntime/creation_site.h"

namespace goscry {

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

void GoroutineTracker::set_snapshot(const GoroutineSnapshot& snap) {
  for (const auto& g : snap.alive) {
    if (born_.count(g.goid)) continue;  // born during the attach: `created` counts it
    site(g.gopc, g.startpc);
    // A site mixes nothing: the runtime's rule looks at each g's own start function.
    if (system_start(g.startpc)) continue;
    ++snapshot_alive_;
    if (early_exits_.erase(g.goid)) {  // read alive, ended meanwhile
      ++snapshot_exited_[g.gopc];
      continue;
    }
    snapshot_.emplace(g.goid, Member{g.gopc});
    ++snapshot_live_[g.gopc];
  }
  have_snapshot_ = true;
  // The rest ended before the snapshot read them.
  for (const auto& [goid, e] : early_exits_) retire(goid, e.startpc);
  early_exits_.clear();
  recompute(last_ns_);
}

void GoroutineTracker::ended_unseen(std::uint64_t startpc, std::uint64_t n) {
  if (!system_start(startpc)) untracked_user_exits_ += n;
}

void GoroutineTracker::on_event(const goscry_event& e) {
  if (e.kind == GOSCRY_EV_GO_CREATE) on_created(e);
  if (e.kind == GOSCRY_EV_GO_EXIT) on_exited(e);
}

void GoroutineTracker::on_created(const goscry_event& e) {
  // Not in the counters (sites map full): its end must not count either, so it stays out
  // of R and its exit event is taken for one of a goroutine we do not know.
  if (!(e.flags & GOSCRY_GO_COUNTED)) return;
  site(e.gopc, e.startpc);
  born_.emplace(e.goid, Member{e.gopc});
  // Born during the attach and read by the snapshot too: `created` already counts it.
  auto it = snapshot_.find(e.goid);
  if (it == snapshot_.end()) return;
  --snapshot_live_[it->second.gopc];
  --snapshot_alive_;
  snapshot_.erase(it);
}

void GoroutineTracker::on_exited(const goscry_event& e) {
  site(e.gopc, e.startpc);
  auto it = born_.find(e.goid);
  if (e.flags & GOSCRY_GO_COUNTED) {  // a traced exit the kernel counted as well
    if (it != born_.end()) born_.erase(it);
    return;
  }
  if (it != born_.end()) {
    ++event_exited_[it->second.gopc];
    born_.erase(it);
  } else if (!have_snapshot_) {
    early_exits_.emplace(e.goid, e);
  } else {
    retire(e.goid, e.startpc);
  }
}

void GoroutineTracker::retire(std::uint64_t goid, std::uint64_t startpc) {
  auto it = snapshot_.find(goid);
  if (it != snapshot_.end()) {
    --snapshot_live_[it->second.gopc];
    ++snapshot_exited_[it->second.gopc];
    snapshot_.erase(it);
  } else if (!system_start(startpc)) {
    ++untracked_user_exits_;  // alive before the probes, ended before the snapshot
  }
}

void GoroutineTracker::update(const std::vector<SiteCounts>& counts, std::uint64_t now_ns) {
  for (const auto& c : counts) {
    site(c.gopc, c.startpc);
    probe_counts_[c.gopc] = c;
  }
  recompute(now_ns);
}

std::vector<SiteCounts> GoroutineTracker::born_counts() const {
  std::vector<SiteCounts> out;
  for (const auto& [gopc, s] : sites_)
    if (s.created || s.born_exited) {
      const auto pc = probe_counts_.find(gopc);
      out.push_back({gopc, s.created, s.born_exited,
                     pc == probe_counts_.end() ? 0 : pc->second.startpc});
    }
  return out;
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
    const auto by_event = event_exited_.find(gopc);
    s.created = created;
    s.born_exited = exited + (by_event == event_exited_.end() ? 0 : by_event->second);
    s.exited = s.born_exited + (exited0 == snapshot_exited_.end() ? 0 : exited0->second);
    s.live = std::int64_t(created) - std::int64_t(s.born_exited) +
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
                           bool (*before)(const SiteStats&, const SiteStats&),
                           bool (*wanted)(const SiteStats&)) {
  std::vector<SiteStats> v;
  for (const auto& [gopc, s] : sites)
    if (!s.system && wanted(s)) v.push_back(s);
  std::sort(v.begin(), v.end(), before);
  if (v.size() > n) v.resize(n);
  return v;
}
}  // namespace

std::vector<SiteStats> GoroutineTracker::top_by_live(std::size_t n) const {
  return top(
      sites_, n,
      [](const SiteStats& a, const SiteStats& b) {
        return a.live != b.live ? a.live > b.live : a.growth > b.growth;
      },
      [](const SiteStats& s) { return s.live > 0; });
}

std::vector<SiteStats> GoroutineTracker::top_by_growth(std::size_t n) const {
  return top(
      sites_, n,
      [](const SiteStats& a, const SiteStats& b) {
        return a.growth != b.growth ? a.growth > b.growth : a.live > b.live;
      },
      [](const SiteStats&) { return true; });
}

std::vector<SiteStats> GoroutineTracker::ended_sites(std::size_t n) const {
  return top(
      sites_, n,
      [](const SiteStats& a, const SiteStats& b) {
        return a.exited != b.exited ? a.exited > b.exited : a.gopc < b.gopc;
      },
      [](const SiteStats& s) { return s.live <= 0; });
}

}  // namespace goscry
