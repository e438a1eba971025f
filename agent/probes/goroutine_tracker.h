// Goroutines of one target as runtime.NumGoroutine counts them: alive now, created and
// ended since attach, per creation site (the `go` statement, g.gopc).
//
// Three sources meet here. Every goroutine created since the creation probes is in the
// per-site counters the probes keep in the kernel (`created`). Goroutines alive before the
// probes come from one read of allgs taken after every probe is attached
// (GoroutineSnapshot, the set S). Goroutines whose goid is at most settings.event_goid_max
// (T) come as events when created and when they end, and their ends are not counted in the
// kernel; the others' ends are (`exited`). live(site) = members of S still alive +
// created - exited - ends that came as events of goroutines seen created.
//
// Why that is exact (TargetWatch::open does the steps in this order): the exit probe is
// attached before the creation probes, so no goroutine is seen created whose end is
// missed. T is ~0 while the probes are attached and allgs is read, then the largest goid
// of the snapshot, and never rises again. So:
//  - a goroutine of S ends with goid <= T: as an event, which takes it off S;
//  - one that was alive before the probes but ended before the snapshot read it ended
//    while T was ~0: as an event, for no goroutine we know of — ignored;
//  - one seen created and also read by the snapshot (born during the attach) has a goid
//    <= T, so it came as a creation event (set R): it is taken off S, `created` has it;
//  - one seen created ends either as an event (its goid was <= T then, hence also at its
//    creation: it is in R, which names its site) or in `exited` — never both.
// Events can arrive before or after the snapshot is installed (the ring buffer is drained
// when the caller chooses): an exit of a goid that is neither in R nor yet in S waits for
// the snapshot. R keeps a goroutine seen created until its exit event, or until
// forget_born_above(T), once no event sent before T was lowered can be on its way.
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
  // A GOSCRY_EV_GO_CREATE / GOSCRY_EV_GO_EXIT event (others are ignored).
  void on_event(const goscry_event& e);
  // Drops the goroutines seen created with a goid above `goid` (the final T): their ends
  // are counted in the kernel. Only once every event sent before T was lowered is in.
  void forget_born_above(std::uint64_t goid);
  // The probes' per-site counters (cumulative since attach), read at `now_ns`.
  void update(const std::vector<SiteCounts>& counts, std::uint64_t now_ns);
  // Per site, the goroutines created since attach and how many of them ended (the kernel's
  // counts with the ends that came as events added), as the BPF counters meant before
  // some ends became events: what the leak detector compares.
  std::vector<SiteCounts> born_counts() const;

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
