#include "agent/daemon/targets.h"

#include <unistd.h>

#include <algorithm>

#include "agent/base/log.h"
#include "agent/daemon/goroutine_tier.h"
#include "agent/daemon/proc_target.h"
#include "agent/goruntime/go_plugins.h"

namespace goscry {

TargetSet::TargetSet(std::vector<TargetSource*> sources, TargetMetrics& metrics,
                     prometheus::Registry& registry)
    : sources_(std::move(sources)),
      metrics_(metrics),
      targets_gauge_(
          registry.gauge("goscry_targets", "Go processes goscry tracks now.").with({})),
      attach_errors_(registry
                         .counter("goscry_attach_errors_total",
                                  "Targets goscry could not identify or attach to.")
                         .with({})),
      skipped_(registry
                   .counter("goscry_targets_skipped_total",
                            "Go processes left out, at least for a while, because max_targets "
                            "were tracked (each counted once).")
                   .with({})),
      over_namespace_cap_(registry
                              .counter("goscry_targets_over_namespace_cap_total",
                                       "Go processes left out, at least for a while, because "
                                       "max_targets_per_namespace of their namespace were "
                                       "tracked (each counted once).")
                              .with({})) {}

void TargetSet::set_enricher(TargetEnricher enrich) {
  std::lock_guard lock(mu_);
  enrich_ = std::move(enrich);
}

void TargetSet::on_added(std::function<void()> fn) { on_added_ = std::move(fn); }

void TargetSet::configure(TargetSettings settings) {
  std::lock_guard lock(mu_);
  settings_ = std::move(settings);
  // A pid that was passed over may be listed now: look at everything again.
  passed_over_.clear();
}

std::vector<pid_t> TargetSet::candidates() const {
  std::vector<pid_t> pids = settings_.pids;
  if (settings_.all) {
    auto all = list_pids();
    pids.insert(pids.end(), all.begin(), all.end());
  }
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  std::erase_if(pids, [this](pid_t p) { return p == getpid() || tracked_.contains(p); });
  return pids;
}

void TargetSet::refresh(Clock::time_point now) {
  std::vector<pid_t> pids;
  {
    std::lock_guard lock(mu_);
    note_exits(now);
    drop_expired(now);
    reidentify();
    drop_deselected();
    pids = candidates();
  }
  // Identify outside the lock: opening binaries must not hold up scrapes.
  std::set<ProcessKey> alive_keys;
  for (pid_t pid : pids) {
    auto ticks = process_start_ticks(pid);
    ProcessKey key{pid, ticks.value_or(0)};
    alive_keys.insert(key);
    bool listed;
    TargetEnricher enrich;
    {
      std::lock_guard lock(mu_);
      if (passed_over_.contains(key)) continue;
      listed = this->listed(pid);
      enrich = enrich_;
    }
    auto info = identify_target(pid);
    if (info && enrich) enrich(*info);
    // A Go program goscry cannot read right (a plugin loaded) is news even under --all: it is
    // logged like a listed pid's failure, once per process, and no source attaches to it.
    auto readable = info ? refuse_go_plugins(pid) : Result<void>{};
    if (consider(key, listed, info, readable) && on_added_) on_added_();
  }
  std::lock_guard lock(mu_);
  std::erase_if(passed_over_, [&](const ProcessKey& k) { return !alive_keys.contains(k); });
  std::erase_if(over_cap_, [&](const ProcessKey& k) { return !alive_keys.contains(k); });
  std::erase_if(over_namespace_cap_keys_,
                [&](const ProcessKey& k) { return !alive_keys.contains(k); });
  targets_gauge_.set(double(count_live()));
}

// Tracks the identified process, or notes why not; true when it was added.
bool TargetSet::consider(const ProcessKey& key, bool listed, const Result<TargetInfo>& info,
                         const Result<void>& readable) {
  const pid_t pid = key.first;
  std::lock_guard lock(mu_);
  if (!info) {
    skip(key, listed, info.error().message);
    return false;
  }
  if (!readable) {
    skip(key, /*listed=*/true, readable.error().message);
    return false;
  }
  if (!listed && !admit(key, *info)) return false;
  if (tracked_.size() >= settings_.max_targets) {
    // Not cached as passed over: it is tracked as soon as a slot frees up. Counted once.
    if (over_cap_.insert(key).second) {
      skipped_.inc();
      log::warn("target not tracked: max_targets reached",
                {{"pid", std::to_string(pid)},
                 {"max_targets", std::to_string(settings_.max_targets)}});
    }
    return false;
  }
  over_cap_.erase(key);
  add(*info);
  return true;
}

bool TargetSet::listed(pid_t pid) const {
  return std::find(settings_.pids.begin(), settings_.pids.end(), pid) != settings_.pids.end();
}

// Not selected: passed over until the config changes. Over its namespace's cap: looked at
// again at every refresh, tracked as soon as one of its namespace's targets goes.
bool TargetSet::admit(const ProcessKey& key, const TargetInfo& info) {
  if (!selected(settings_.selection, info)) {
    passed_over_.insert(key);
    log::debug("process not selected", {{"pid", std::to_string(info.pid)}, {"exe", info.exe}});
    return false;
  }
  const size_t cap = settings_.selection.max_targets_per_namespace;
  if (cap == 0 || info.kube_namespace.empty() || count_live_in(info.kube_namespace) < cap) {
    over_namespace_cap_keys_.erase(key);
    return true;
  }
  if (over_namespace_cap_keys_.insert(key).second) {
    over_namespace_cap_.inc();
    log::warn("target not tracked: max_targets_per_namespace reached",
              {{"pid", std::to_string(info.pid)},
               {"namespace", info.kube_namespace},
               {"max_targets_per_namespace", std::to_string(cap)}});
  }
  return false;
}

// Detaches a target at once, series and all: a reload deselected it.
void TargetSet::forget(std::map<pid_t, Tracked>::iterator it, const char* why) {
  Tracked& t = it->second;
  for (TargetSource* s : t.attached) s->detach(t.info);
  metrics_.remove(t.info);
  log::info(why, {{"pid", std::to_string(it->first)}, {"exe", t.info.exe}});
  tracked_.erase(it);
}

void TargetSet::drop_deselected() {
  for (auto it = tracked_.begin(); it != tracked_.end();) {
    auto next = std::next(it);
    if (!listed(it->first) && !selected(settings_.selection, it->second.info))
      forget(it, "target no longer selected");
    it = next;
  }
}

// A later answer of the enricher (a pod list that came after the target) relabels it: the
// old series go, the new ones come at once, with the same figures.
void TargetSet::reidentify() {
  if (!enrich_) return;
  for (auto& [pid, t] : tracked_) {
    if (t.exited_at) continue;
    TargetInfo next = t.info;
    enrich_(next);
    if (next.pod == t.info.pod && next.kube_namespace == t.info.kube_namespace &&
        next.container == t.info.container && next.pod_labels == t.info.pod_labels)
      continue;
    metrics_.remove(t.info);
    t.info = std::move(next);
    metrics_.publish(t.info, t.figures);
  }
}

// Listed pids that cannot be tracked are errors the user should see (once per process);
// the host's other processes are not Go programs most of the time, which is no news.
void TargetSet::skip(const ProcessKey& key, bool listed, const std::string& why) {
  passed_over_.insert(key);
  if (!listed) {
    log::debug("process not tracked", {{"pid", std::to_string(key.first)}, {"reason", why}});
    return;
  }
  attach_errors_.inc();
  log::warn("cannot track target", {{"pid", std::to_string(key.first)}, {"error", why}});
}

void TargetSet::add(const TargetInfo& found) {
  TargetInfo info = found;
  info.tier = goroutine_tier(settings_.pids, settings_.trace, info);
  Tracked t{info, {}, std::nullopt, {}};
  for (TargetSource* s : sources_) {
    if (auto r = s->attach(info); !r) {
      attach_errors_.inc();
      log::warn("attach failed", {{"pid", std::to_string(info.pid)},
                                  {"source", std::string(s->name())},
                                  {"error", r.error().message}});
      continue;
    }
    t.attached.push_back(s);
  }
  log::info("target added", {{"pid", std::to_string(info.pid)},
                             {"exe", info.exe},
                             {"go_version", info.go_version}});
  for (TargetSource* s : t.attached) s->read(info, t.figures);
  metrics_.publish(info, t.figures);
  tracked_.emplace(info.pid, std::move(t));
}

void TargetSet::note_exits(Clock::time_point now) {
  for (auto& [pid, t] : tracked_) {
    if (t.exited_at || target_alive(t.info)) continue;
    t.exited_at = now;
    t.figures.alive = false;
    log::info("target exited", {{"pid", std::to_string(pid)}, {"exe", t.info.exe}});
  }
}

void TargetSet::drop_expired(Clock::time_point now) {
  for (auto it = tracked_.begin(); it != tracked_.end();) {
    Tracked& t = it->second;
    if (!t.exited_at || now - *t.exited_at < settings_.grace_period) {
      ++it;
      continue;
    }
    for (TargetSource* s : t.attached) s->detach(t.info);
    metrics_.remove(t.info);
    log::debug("target removed", {{"pid", std::to_string(it->first)}});
    it = tracked_.erase(it);
  }
}

std::string TargetSet::shed_one_target() {
  for (auto* s : sources_)
    if (auto pid = s->shed_one_target()) return std::string(s->name()) + " " + std::to_string(*pid);
  return {};
}

void TargetSet::publish(Clock::time_point now) {
  std::lock_guard publishing(publish_mu_);
  if (now - last_publish_ < std::chrono::milliseconds(100)) return;
  last_publish_ = now;
  std::lock_guard lock(mu_);
  for (auto& [pid, t] : tracked_) {
    TargetFigures f;
    for (TargetSource* s : t.attached) s->read(t.info, f);
    if (t.exited_at) f.alive = false;  // a dead target's last figures stay as they were
    else t.figures = std::move(f);
    metrics_.publish(t.info, t.figures);
  }
  targets_gauge_.set(double(count_live()));
}

std::vector<TargetView> TargetSet::snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<TargetView> out;
  auto now = Clock::now();
  for (const auto& [pid, t] : tracked_) {
    TargetView v{t.info, t.figures, std::nullopt};
    if (t.exited_at)
      v.exited_seconds_ago = std::chrono::duration<double>(now - *t.exited_at).count();
    out.push_back(std::move(v));
  }
  return out;
}

size_t TargetSet::live_count() const {
  std::lock_guard lock(mu_);
  return count_live();
}

size_t TargetSet::count_live_in(const std::string& kube_namespace) const {
  size_t n = 0;
  for (const auto& [pid, t] : tracked_) n += !t.exited_at && t.info.kube_namespace == kube_namespace;
  return n;
}

size_t TargetSet::count_live() const {
  size_t n = 0;
  for (const auto& [pid, t] : tracked_) n += !t.exited_at;
  return n;
}

}  // namespace goscry
