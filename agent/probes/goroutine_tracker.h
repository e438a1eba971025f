// Goroutines of one target as runtime.NumGoroutine counts them: alive now, created and
// ended since attach, per creation site (the `go` statement, g.gopc).
//
// Three sources meet here. Every goroutine created since the creation probes is in the
// per-site counters the probes keep in the kernel (`created`), and so is its end
// (`exited`). Goroutines alive before the probes come from one read of allgs taken after
// every probe is attached (GoroutineSnapshot, the set S). Goroutines whose goid is at most
// settings.event_goid_max (T) are recorded in the kernel's window map when created and when
// they end (bpf/runtime.bpf.c); TargetWatch hands its entries here as events. live(site) =
// members of S still alive + created - exited.
//
// Why that is exact (TargetWatch::open does the steps in this order): the exit probe is
// attached before the creation probes, so no goroutine is seen created whose end is
// missed. T is ~0 while the probes go in; then T = runtime.sched.goidgen read after them
// (G), and the window closes. No goroutine born before the probes has a goid above G, and
// above G every goroutine was seen created: the snapshot, read after the close, keeps only
// goids <= G. So:
//  - a goroutine of S ends with goid <= T: as a window entry not seen created, which takes
//    it off S;
//  - one that was alive before the probes but ended before the snapshot read it ended as
//    such an entry too, for no goroutine we know of: counted as ended, off no site (while
//    the window was open, a thread's next end drops that entry and the kernel counts it
//    by start function instead: ended_unseen);
//  - one seen created with a goid <= G (born while the window was open, or later from a
//    goid a P had cached: at most 16 per P) has a window entry saying so (set R): it is
//    taken off S if the snapshot read it, `created` has it. While the window was open, a
//    thread's end of such a goroutine drops the entry of the one it ended before, which
//    gdestroy has marked dead since, so the snapshot cannot read it alive; the last one
//    per thread stays (window_exiting). Once closed, entries stay until read.
// Window entries are read after the snapshot is installed and whenever the counters are,
// in any order with respect to them: an entry is handed over once for its creation, once
// for its end. So nothing here depends on how soon user space runs after the probes: the
// window map's size follows the target's goroutines, not the agent's delay.
//
// NumGoroutine leaves out system goroutines (runtime.isSystemGoroutine): those whose start
// function is in package runtime, except runtime.main and runtime.corostart. The runtime
// decides at creation (sched.ngsys) by the start function, so does this tracker: by the
// startpc of the site (probes) or of the g (snapshot). System goroutines are tracked but
// kept out of the totals.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/probes/bpf_loader.h"
#include "symbolizer/go_binary.h"
#include "agent/goruntime/goroutine_snapshot.h"
#include "agent/goruntime/system_goroutines.h"

namespace goscry {

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
  std::uint64_t born_exited = 0;  // of those created since attach
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

  // The snapshot of allgs taken after every probe was attached (once).
  void set_snapshot(const GoroutineSnapshot& snap);
  // `n` goroutines started at `startpc`, alive before the probes, ended before the
  // snapshot read allgs without an event (window_unseen_ends, bpf/runtime.bpf.c).
  void ended_unseen(std::uint64_t startpc, std::uint64_t n);
  // A GOSCRY_EV_GO_CREATE / GOSCRY_EV_GO_EXIT event (others are ignored).
  void on_event(const goscry_event& e);
  // The probes' per-site counters (cumulative since attach), read at `now_ns`.
  void update(const std::vector<SiteCounts>& counts, std::uint64_t now_ns);
  // Per site, the goroutines created since attach and how many of them ended (the kernel's
  // counts with any ends that came as uncounted events added): what the leak detector
  // compares.
  std::vector<SiteCounts> born_counts() const;

  GoroutineTotals totals() const { return totals_; }
  // User sites (system ones left out) with goroutines alive, ordered by live count, then by
  // growth; top n.
  std::vector<SiteStats> top_by_live(std::size_t n) const;
  // User sites ordered by growth (negative too), then by live count; top n.
  std::vector<SiteStats> top_by_growth(std::size_t n) const;
  // User sites whose goroutines all ended, the most ends first; top n.
  std::vector<SiteStats> ended_sites(std::size_t n) const;
  const std::map<std::uint64_t, SiteStats>& sites() const { return sites_; }
  std::uint64_t snapshot_alive() const { return snapshot_alive_; }

 private:
  struct Member {
    std::uint64_t gopc;
  };
  SiteStats& site(std::uint64_t gopc, std::uint64_t startpc);
  bool system_start(std::uint64_t startpc);
  void on_created(const goscry_event& e);
  void on_exited(const goscry_event& e);
  // An exit of a goroutine not seen created: a member of S ends, or one that ended before
  // the snapshot read it.
  void retire(std::uint64_t goid, std::uint64_t startpc);
  void recompute(std::uint64_t now_ns);

  std::shared_ptr<const GoBinary> symbols_;
  std::uint64_t bias_;
  bool have_snapshot_ = false;
  std::unordered_map<std::uint64_t, Member> snapshot_;  // S: goid -> site, alive at attach
  std::uint64_t snapshot_alive_ = 0;
  std::unordered_map<std::uint64_t, Member> born_;      // R: goid -> site, seen created
  std::unordered_map<std::uint64_t, goscry_event> early_exits_;  // before the snapshot
  std::map<std::uint64_t, SiteStats> sites_;           // by gopc
  std::map<std::uint64_t, std::int64_t> snapshot_live_;  // gopc -> members still alive
  std::map<std::uint64_t, std::uint64_t> snapshot_exited_;
  std::map<std::uint64_t, std::uint64_t> event_exited_;  // gopc -> ends of R members
  std::map<std::uint64_t, SiteCounts> probe_counts_;     // gopc -> latest counters
  std::uint64_t untracked_user_exits_ = 0;  // ended before the snapshot read them
  std::unordered_map<std::uint64_t, bool> system_by_startpc_;
  GoroutineTotals totals_;
  std::uint64_t last_ns_ = 0;
};

}  // namespace goscry
