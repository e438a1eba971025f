// The set of targets the agent tracks: the pids it was given and, with --all, every Go
// process of the host. refresh() (the agent's loop, every scan interval) adds new ones
// and notices exits; a target that exited keeps its series for the grace period, so the
// last scrape still sees its final figures, then it is detached and its series removed.
//
// Thread-safe: refresh() runs on the agent's loop, publish() on every scrape, snapshot()
// on HTTP requests.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "agent/daemon/target_metrics.h"
#include "agent/daemon/target_source.h"
#include "exporters/prometheus.h"

namespace goscry {

using Clock = std::chrono::steady_clock;

struct TargetSettings {
  std::vector<pid_t> pids;  // always tracked while they are Go processes
  bool all = false;         // plus every Go process of the host
  size_t max_targets = 500;
  std::chrono::milliseconds grace_period{30000};
};

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
  void refresh(Clock::time_point now = Clock::now());
  // Reads every target's figures into the metrics; at most every 100 ms, so concurrent
  // scrapes share one read.
  void publish(Clock::time_point now = Clock::now());
  std::vector<TargetView> snapshot() const;
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
  void add(const TargetInfo& info);
  void note_exits(Clock::time_point now);
  void drop_expired(Clock::time_point now);
  void skip(const ProcessKey& key, bool listed, const std::string& why);
  size_t count_live() const;

  std::vector<TargetSource*> sources_;
  TargetMetrics& metrics_;
  prometheus::Gauge& targets_gauge_;
  prometheus::Counter& attach_errors_;
  prometheus::Counter& skipped_;
  mutable std::mutex mu_;
  TargetSettings settings_;
  std::map<pid_t, Tracked> tracked_;
  // Processes looked at and not tracked (not Go, gone, over the cap): not read again
  // while they live. Pruned of dead pids at every refresh.
  std::set<ProcessKey> passed_over_;
  // Go processes left out because max_targets were tracked (each counted once).
  std::set<ProcessKey> over_cap_;
  Clock::time_point last_publish_{};
  std::mutex publish_mu_;
};

}  // namespace goscry
