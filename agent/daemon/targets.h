// The set of targets the agent tracks: the pids it was given and, with --all, every Go
// process of the host. refresh() (the agent's loop, every scan interval) adds new ones
// and notices exits; a target that exited keeps its series for the grace period, so the
// last scrape still sees its final figures, then it is detached and its series removed.
//
// Thread-safe: refresh() runs on the agent's loop, publish() on every scrape, snapshot()
// on HTTP requests.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "agent/daemon/target_metrics.h"
#include "agent/daemon/target_selection.h"
#include "agent/daemon/target_source.h"
#include "exporters/prometheus.h"

namespace goscry {

using Clock = std::chrono::steady_clock;

struct TargetSettings {
  std::vector<pid_t> pids;  // always tracked while they are Go processes
  bool all = false;         // plus every Go process of the host
  size_t max_targets = 500;
  std::chrono::milliseconds grace_period{30000};
  TargetSelection selection;  // which of --all's processes; listed pids always
  std::vector<TargetSelector> trace;  // traced besides the pids (goroutine_tier.h)
};

// Completes a target's identity from elsewhere than /proc (the Kubernetes pod list,
// agent/daemon/kube_pods.h) before it is selected; called again at every refresh, so an
// answer that comes later relabels the target's series. Must be cheap.
using TargetEnricher = std::function<void(TargetInfo&)>;

struct TargetView {
  TargetInfo info;
  TargetFigures figures;
  std::optional<double> exited_seconds_ago;
};

class TargetSet {
 public:
  TargetSet(std::vector<TargetSource*> sources, TargetMetrics& metrics,
            prometheus::Registry& registry);

  void configure(TargetSettings settings);
  // Set once, before the first refresh.
  void set_enricher(TargetEnricher enrich);
  // Called after each target is added, outside the lock (the memory budget: attaching maps
  // the target's binary, and a scan that finds 100 new targets must not map them all before
  // the agent looks at its memory again). Set before the first refresh.
  void on_added(std::function<void()> fn);
  void refresh(Clock::time_point now = Clock::now());
  // Reads every target's figures into the metrics; at most every 100 ms, so concurrent
  // scrapes share one read.
  void publish(Clock::time_point now = Clock::now());
  std::vector<TargetView> snapshot() const;
  // Asks the sources in order to give up one target's watch (TargetSource::shed_one_target);
  // "source pid", or "" when none had one to give.
  std::string shed_one_target();
  size_t live_count() const;

 private:
  struct Tracked {
    TargetInfo info;
    TargetFigures figures;
    std::optional<Clock::time_point> exited_at;
    std::vector<TargetSource*> attached;
  };
  using ProcessKey = std::pair<pid_t, std::uint64_t>;  // pid, start ticks

  std::vector<pid_t> candidates() const;  // pids to look at that are not tracked yet
  bool consider(const ProcessKey& key, bool listed, const Result<TargetInfo>& info,
                const Result<void>& readable);
  void add(const TargetInfo& info);
  void note_exits(Clock::time_point now);
  void drop_expired(Clock::time_point now);
  void skip(const ProcessKey& key, bool listed, const std::string& why);
  size_t count_live() const;
  size_t count_live_in(const std::string& kube_namespace) const;
  bool listed(pid_t pid) const;
  // Whether a target that is not listed may be added now (selection, namespace cap).
  bool admit(const ProcessKey& key, const TargetInfo& info);
  void forget(std::map<pid_t, Tracked>::iterator it, const char* why);
  void drop_deselected();
  void reidentify();

  std::vector<TargetSource*> sources_;
  TargetMetrics& metrics_;
  prometheus::Gauge& targets_gauge_;
  prometheus::Counter& attach_errors_;
  prometheus::Counter& skipped_;
  prometheus::Counter& over_namespace_cap_;
  TargetEnricher enrich_;
  mutable std::mutex mu_;
  TargetSettings settings_;
  std::map<pid_t, Tracked> tracked_;
  // Processes looked at and not tracked (not Go, gone, over the cap): not read again
  // while they live. Pruned of dead pids at every refresh.
  std::set<ProcessKey> passed_over_;
  // Go processes left out because max_targets were tracked (each counted once).
  std::set<ProcessKey> over_cap_;
  // Go processes left out because max_targets_per_namespace of theirs were tracked.
  std::set<ProcessKey> over_namespace_cap_keys_;
  Clock::time_point last_publish_{};
  std::mutex publish_mu_;
  std::function<void()> on_added_;
};

}  // namespace goscry
