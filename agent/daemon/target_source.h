// "A target's current figures": the one interface between the agent (targets, HTTP,
// metrics) and whatever watches a target. The agent asks a source to attach to a target
// when it starts tracking it, reads its figures at every refresh and scrape, and detaches
// when the target is gone.
//
// Every figure is optional: a source fills in only what it really measures, and a metric
// whose figure is empty is simply not exported for that target (never a made-up 0). The
// /proc source (proc_target.h) knows who a target is and whether it lives; the BPF
// trackers add goroutine and GC figures by implementing this same interface.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/probes/attacher.h"
#include "exporters/cardinality_cap.h"
#include "symbolizer/error.h"

namespace goscry {

class TargetProcess;  // target_process.h

// Who a target is. (pid, start_ticks) names one process: a pid is reused, the pair is not.
struct TargetInfo {
  pid_t pid = 0;
  std::uint64_t start_ticks = 0;  // /proc/PID/stat field 22, clock ticks after boot
  std::string exe;                // readlink /proc/PID/exe, as the target's mount ns sees it
  std::string go_version;         // "go1.26.8"
  // Where it runs (agent/proc/container_identity.h); "" outside a container / Kubernetes.
  // Initialized so that {pid, ticks, exe, version} stays a complete initializer.
  std::string container_id{};
  std::string pod{};
  std::string kube_namespace{};
  // From the Kubernetes pod list (agent/daemon/kube_pods.h) when it knows the container: its
  // name in the pod and the pod labels the config asks for (pod_labels); else empty.
  std::string container{};
  std::map<std::string, std::string> pod_labels{};
  // The one Go process handle of this target, opened by the first source that reads it
  // (identify_target makes it; copies of the info share it).
  std::shared_ptr<TargetProcess> process{};
  // Decided once, when the agent starts tracking the target (agent/daemon/goroutine_tier.h);
  // every source follows it.
  GoroutineTier tier = GoroutineTier::kTrace;
};

// Upper bounds (seconds) of the STW pause histogram, the +Inf bucket implied. From 1 µs to
// ~1 s by factors of ~4: Go's pauses are tens of µs when healthy, ms when not.
inline const std::vector<double> kStwPauseBucketsSeconds = {
    0.000001, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025,
    0.0005,   0.001,    0.0025,  0.005,    0.01,    0.025,  0.1,   1};

// Upper bounds (seconds) of the GC mark phase histogram (concurrent: from the end of sweep
// termination to the start of mark termination), 100 µs to 10 s.
inline const std::vector<double> kMarkPhaseBucketsSeconds = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1,     2.5,   10};

// Which bucket of `bounds` (upper bounds, +Inf implied) a value falls in: le semantics.
inline std::size_t bucket_index(const std::vector<double>& bounds, double v) {
  std::size_t i = 0;
  while (i < bounds.size() && v > bounds[i]) ++i;
  return i;
}

// A histogram as counted elsewhere (BPF): per-bucket counts over kStwPauseBucketsSeconds,
// NOT cumulative, the last one being +Inf (so size() == bounds + 1); totals since attach.
struct PauseCounts {
  std::vector<std::uint64_t> buckets;
  double sum_seconds = 0;
  std::uint64_t count() const {
    std::uint64_t n = 0;
    for (auto c : buckets) n += c;
    return n;
  }
};

struct TargetFigures {
  bool alive = true;                                    // false: the process is gone
  std::optional<std::uint64_t> goroutines;              // live now
  std::optional<std::uint64_t> goroutines_created_total;
  std::optional<std::uint64_t> goroutines_exited_total;
  // Live goroutines per creation site (function name); the agent keeps the top N.
  std::optional<std::vector<prometheus::Ranked>> goroutines_by_site;
  std::optional<std::uint64_t> gc_cycles_total;
  // Why the cycles ran: completed cycles per trigger ("heap", "time", "runtime.GC",
  // "debug.FreeOSMemory", "unknown"), summing to gc_cycles_total.
  std::optional<std::map<std::string, std::uint64_t>> gc_cycles_by_trigger;
  // The pacer in force, read from the target's runtime.gcController at each refresh.
  std::optional<std::uint64_t> go_heap_goal_bytes, go_heap_live_bytes;
  std::optional<std::int64_t> go_gogc_percent, go_memory_limit_bytes;
  // Mark CPU of the cycles since attach: assists, and the workers by kind ("dedicated",
  // "fractional", "idle").
  std::optional<double> gc_assist_seconds_total;
  std::optional<std::map<std::string, double>> gc_mark_worker_seconds_total;
  // STW pauses by phase ("sweep termination", "mark termination", "other").
  std::map<std::string, PauseCounts> stw_pauses;
  // Mark phases of whole GC cycles, over kMarkPhaseBucketsSeconds.
  std::optional<PauseCounts> gc_mark_phase;
  // Goroutines in suspected leaks per creation site (the leak detector); top N kept.
  std::optional<std::vector<prometheus::Ranked>> leak_suspects_by_site;
  // Bytes allocated since the target started per allocating function, unsampled as
  // runtime/pprof's alloc_space, as of its last completed GC (the heap source); top N kept.
  std::optional<std::vector<prometheus::Ranked>> alloc_bytes_by_site;
};

class TargetSource {
 public:
  virtual ~TargetSource() = default;
  virtual std::string_view name() const = 0;  // "proc", "bpf" — for logs
  // Starts watching. An error is logged and counted in goscry_attach_errors_total; the
  // target is then tracked without this source's figures.
  virtual Result<void> attach(const TargetInfo& target) = 0;
  virtual void detach(const TargetInfo& target) = 0;
  // Current figures. Called from the refresh loop and from scrapes, so it must be cheap
  // and thread-safe. Fills only what this source measures.
  virtual void read(const TargetInfo& target, TargetFigures& figures) = 0;
  // The agent is still over its memory budget after giving back what it could
  // (memory_budget.h): give up this source's watch of one target, the costliest first, to
  // shrink. Returns the pid given up, or nothing when this source holds nothing to give.
  virtual std::optional<pid_t> shed_one_target() { return std::nullopt; }
};

}  // namespace goscry
