// Goroutine leak detection from outside. A leak is a crowd of goroutines created at one
// `go` statement, blocked at one place for one reason, that keeps growing while its members
// never leave. Each observation (a memory snapshot of every goroutine, plus the per-site
// created/exited counters of the BPF probes when they are attached) is grouped by
//   (creation site, blocking site, wait reason)
// and a group becomes a suspect when, over the watch window:
//   - it grew by at least `min_growth` goroutines, in many small steps (a leak at a steady
//     rate), not in one jump (a pool or a set of tickers started once);
//   - it still grows in the last third of the window (no plateau: pools, idle keep-alive
//     connections, tickers and long-lived subscribers plateau at their size);
//   - the goroutines that were in it at the start are still there (retention): groups whose
//     members exit and get replaced (connections that close, workers that finish) keep
//     their count by turnover, a leak by accumulation;
//   - it rarely shrank (bursts that all finish fall back to zero).
// BPF counters (created vs. exited at the site) and how long the members have waited raise
// the confidence; they are reasons, printed with the suspect.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/goruntime/goroutine_formats.h"
#include "agent/goruntime/goroutine_stacks.h"

namespace goscry {

struct LeakKey {
  CodeLocation creation;
  CodeLocation blocking;
  std::string wait_reason;
  bool operator<(const LeakKey& o) const {
    return std::tie(creation, blocking, wait_reason) <
           std::tie(o.creation, o.blocking, o.wait_reason);
  }
};

struct LeakSuspect {
  LeakKey key;
  std::string blocked_in;  // innermost shown frame: "sync.(*Mutex).Lock"
  std::size_t count = 0;
  double growth_per_minute = 0;
  double oldest_wait_seconds = 0;
  std::string example_stack;  // Go traceback text of one member
  std::uint64_t example_goid = 0;
  std::string confidence;  // "high" or "medium"
  std::vector<std::string> reasons;
  double reported_after_seconds = 0;  // since the watch began
  std::optional<std::uint64_t> site_created, site_exited;  // BPF, since attach
  std::uint64_t gopc = 0;
};

struct LeakDetectorOptions {
  double window_seconds = 60;      // the history a decision looks at
  double min_span_seconds = 15;    // no decision on less history: ramps of pools last seconds
  std::size_t min_growth = 5;      // goroutines
  double min_retention = 0.9;      // of the members present at the window start
  std::size_t min_samples = 5;
};

// Per-site counters from BPF, keyed by run-time gopc.
struct SiteCounter {
  std::uint64_t created = 0;
  std::uint64_t exited = 0;
};

class LeakDetector {
 public:
  explicit LeakDetector(LeakDetectorOptions opt = {}) : opt_(opt) {}

  // One snapshot taken at `now_ns` (CLOCK_MONOTONIC). Returns the groups that became
  // suspects with this observation. `target`: the process the snapshot was read from, to
  // read the arguments of the suspects' example goroutines, the only ones a report prints
  // (a snapshot is read without them); without it their frames print "(...)".
  std::vector<LeakSuspect> observe(const std::vector<GoroutineView>& gs, std::int64_t now_ns,
                                   const std::unordered_map<std::uint64_t, SiteCounter>* sites,
                                   const GoProcess* target = nullptr);

  // Every group that is a suspect now (figures as of the last observation), most
  // goroutines first.
  std::vector<LeakSuspect> suspects() const;

  // The goroutines of the current suspects (for the goroutineleak profile).
  bool in_suspect_group(const GoroutineView& g) const;

 private:
  struct Sample {
    std::int64_t t;
    std::size_t count;
  };
  struct Group {
    std::vector<Sample> samples;
    std::unordered_map<std::uint64_t, std::int64_t> first_seen;  // goid -> t (current members)
    std::int64_t created_at = 0;
    std::optional<LeakSuspect> suspect;  // set once reported, refreshed after
    std::uint64_t gopc = 0;
  };
  // A suspect without its example_stack; `example` the member it shows.
  std::optional<LeakSuspect> evaluate(const LeakKey& key, const Group& g,
                                      const std::vector<const GoroutineView*>& members,
                                      std::int64_t now,
                                      const std::unordered_map<std::uint64_t, SiteCounter>* sites,
                                      const GoroutineView*& example) const;

  LeakDetectorOptions opt_;
  std::map<LeakKey, Group> groups_;
  std::int64_t start_ = 0;
};

// Where a goroutine is blocked, as a leak report names it: the innermost frame of the
// program's own code (package main or a module path with a dot), else the innermost frame
// Go's traceback shows.
CodeLocation blocking_site(const GoroutineView& g);
std::optional<CodeLocation> creation_site(const GoroutineView& g);

nlohmann::ordered_json suspect_json(const LeakSuspect& s);
// The /api/v1/leaks answer and the `goscry leaks --format json` report.
nlohmann::ordered_json leaks_report_json(int pid, const std::string& go_version,
                                         double watched_seconds,
                                         const std::vector<LeakSuspect>& suspects,
                                         const std::string& bpf_status);
std::string suspect_text(const LeakSuspect& s, bool with_stack);

// /debug/pprof/goroutineleak?pid=P: a goroutine profile (debug=0 gzipped proto, 1 counts,
// 2 traceback) of the goroutines in the detector's current suspect groups.
Result<GoroutineAnswer> goroutine_leak_profile(const GoProcess& t, const LeakDetector& d,
                                               const std::vector<GoroutineView>& gs,
                                               int debug);

}  // namespace goscry
