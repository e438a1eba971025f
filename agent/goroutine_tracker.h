// Goroutines of one target as runtime.NumGoroutine counts them: alive now, created and
// ended since attach, per creation site (the `go` statement, g.gopc).
//
// Two sources meet here. Goroutines alive before the probes come from one read of allgs
// taken right after attach (GoroutineSnapshot); those the probes saw born are skipped in
// it (the goids LRU knows them), and their exits arrive as untracked-exit events. Every
// goroutine created since attach is in the per-site counters the probes keep in the
// kernel. live(site) = snapshot members still alive + created - exited.
//
// NumGoroutine leaves out system goroutines (runtime.isSystemGoroutine): those whose start
// function is in package runtime, except runtime.main and runtime.corostart. The runtime
// decides at creation (sched.ngsys) by the start function, so does this tracker: by the
// startpc of the site (probes) or of the g (snapshot). System goroutines are tracked but
// kept out of the totals.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/bpf_loader.h"
#include "symbolizer/go_binary.h"
#include "agent/goroutine_snapshot.h"

namespace goscry {

// Whether runtime.isSystemGoroutine calls a goroutine starting in `function` a system one.
bool is_system_start_function(std::string_view function);

struct SiteStats {
  std::uint64_t gopc = 0;  // run-time address
  std::string name;        // "main.spawnShort main.go:55" (CreationSite::display)
  std::string function;    // "main.spawnShort": the agent's site label
  std::string file;        // full path of the go statement's file
  int line = 0;
  std::string start_function;
  bool system = false;
  std::uint64_t created = 0;  // since attach
  std::uint64_t exited = 0;   // since attach, snapshot members included
  std::int64_t live = 0;
  std::int64_t growth = 0;  // live now - live at the previous interval
};

struct GoroutineTotals {
  std::int64_t live = 0;  // = runtime.NumGoroutine() at a quiescent point
  std::uint64_t created = 0;
  std::uint64_t exited = 0;
  double created_per_s = 0, exited_per_s = 0;  // over the last interval
};

class GoroutineTracker {
 public:
  // `bias`: run-time pc - link-time pc (PIE load bias).
  GoroutineTracker(std::shared_ptr<const GoBinary> symbols, std::uint64_t bias)
      : symbols_(std::move(symbols)), bias_(bias) {}

  // The attach-time snapshot; `seen_born(goid)` says whether the probes saw it created.
  void set_snapshot(const GoroutineSnapshot& snap,
                    const std::function<bool(std::uint64_t)>& seen_born);
  // A GOSCRY_EV_GO_EXIT_UNTRACKED event (others are ignored).
  void on_event(const goscry_event& e);
  // The probes' per-site counters (cumulative since attach), read at `now_ns`.
  void update(const std::vector<SiteCounts>& counts, std::uint64_t now_ns);

  GoroutineTotals totals() const { return totals_; }
  // User sites (system ones left out) ordered by live count, then by growth; top n.
  std::vector<SiteStats> top_by_live(std::size_t n) const;
  std::vector<SiteStats> top_by_growth(std::size_t n) const;
  const std::map<std::uint64_t, SiteStats>& sites() const { return sites_; }
  std::uint64_t snapshot_alive() const { return snapshot_alive_; }

 private:
  struct Member {
    std::uint64_t gopc;
  };
  SiteStats& site(std::uint64_t gopc, std::uint64_t startpc);
  bool system_start(std::uint64_t startpc);
  void recompute(std::uint64_t now_ns);

  std::shared_ptr<const GoBinary> symbols_;
  std::uint64_t bias_;
  std::unordered_map<std::uint64_t, Member> snapshot_;  // goid -> site, alive at attach
  std::uint64_t snapshot_alive_ = 0;
  std::map<std::uint64_t, SiteStats> sites_;           // by gopc
  std::map<std::uint64_t, std::int64_t> snapshot_live_;  // gopc -> members still alive
  std::map<std::uint64_t, std::uint64_t> snapshot_exited_;
  std::map<std::uint64_t, SiteCounts> probe_counts_;     // gopc -> latest counters
  std::uint64_t untracked_user_exits_ = 0;  // not in the snapshot (exited before it / evicted)
  std::unordered_map<std::uint64_t, bool> system_by_startpc_;
  GoroutineTotals totals_;
  std::uint64_t last_ns_ = 0;
};

}  // namespace goscry
