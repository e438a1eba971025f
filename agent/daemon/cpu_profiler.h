// Continuous CPU profiling in `goscry agent`: every tracked target is sampled at the agent
// rate (profile_hz, default 19 Hz) by one CpuSampler (bpf/cpu.bpf.c) shared by all of
// them, each registered as `goscry record` registers its one (agent/cpu/cpu_target.h: its
// goroutine, pprof labels and Go text, so the frameless leaf's caller is put back). A
// thread drains the sampler every second into every open window of each target, a
// CpuRecording each (agent/cpu/cpu_recording.h, record's: stacks symbolized while the
// target lives, label sets read from it):
//   - a /debug/pprof/profile?pid=P&seconds=N request, which like Go's own endpoint
//     collects for N seconds from the moment it arrives and then answers the profile;
//   - the current push period, when pyroscope_url is set: each period's profile is pushed
//     to a Pyroscope-compatible server (agent/daemon/pyroscope_push.h).
// Samples of a target with no open window are dropped. The sampler's stack ids are freed
// after every drain (CpuSampler::forget_stacks; a recording keeps the stacks' contents) so
// that its stack table never fills up in an agent that runs for months.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/base/periodic_worker.h"
#include "agent/cpu/cpu_recording.h"
#include "agent/daemon/agent_config.h"
#include "agent/daemon/daemon.h"
#include "agent/daemon/pyroscope_push.h"
#include "agent/daemon/target_source.h"
#include "agent/goruntime/go_binary_facts.h"
#include "agent/probes/bpf_map_metrics.h"
#include "exporters/prometheus.h"
#include "symbolizer/process_symbolizer.h"

namespace goscry {

class CpuSampler;

// Why a profile request got no profile, with the HTTP status that says so.
struct ProfileRefusal {
  int status;  // 404 unknown pid, 503 profiling off or the agent stopping, 429 too many
  std::string message;
};

class CpuProfiler : public TargetSource {
 public:
  // Requests collecting at once; more wait for none and are refused (429).
  static constexpr std::size_t kMaxCollections = 4;

  CpuProfiler();
  ~CpuProfiler() override;
  CpuProfiler(const CpuProfiler&) = delete;
  CpuProfiler& operator=(const CpuProfiler&) = delete;

  std::string_view name() const override { return "cpu"; }
  Result<void> attach(const TargetInfo& target) override;
  void detach(const TargetInfo& target) override;
  void read(const TargetInfo&, TargetFigures&) override {}

  // profile_hz (the sampler is reopened when it changes; 0 closes it) and the push settings.
  void configure(const AgentConfig& config);
  void register_metrics(prometheus::Registry& registry);
  // Wakes the requests waiting for their profile (503) and ends the drain thread.
  void stop();

  // Collects `pid`'s samples for `duration` from now, then returns its gzipped pprof. Stops
  // early, freeing its slot, when `abandoned` says the requester has gone (as Go's
  // net/http/pprof does when the client disconnects).
  std::expected<std::string, ProfileRefusal> collect(
      pid_t pid, std::chrono::seconds duration,
      const std::function<bool()>& abandoned = [] { return false; });

  // Adds this profiler to the daemon: its source, route, metrics, config and stop hooks,
  // each chained after what `hooks` already holds.
  void hook_into(DaemonHooks& hooks);

 private:
  struct Target;
  struct Collection;

  void drain_and_push();  // the worker's job, every second
  void push(std::vector<PyroscopePush> pushes, const std::string& url);
  void drain_locked();
  void ensure_sampler_locked();
  Result<void> open_target(Target& t);
  bool sampling() const;
  // Drops a target (its last samples into its windows); false if it is not this one.
  bool forget_locked(const TargetInfo& target);
  // Closes the sampler, keeping its counters' totals.
  void close_sampler_locked();
  void restart_periods_locked();
  std::vector<PyroscopePush> take_pushes_locked();
  Result<PyroscopePush> period_push_locked(Target& t, std::int64_t now_ns);
  Result<std::string> build_locked(const Target& t, const CpuRecording& window,
                                   std::int64_t start_ns, std::int64_t end_ns) const;
  void publish_counters();
  void publish_cache_stats();
  void count_map_entries_locked();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  int hz_ = 19;
  int last_hz_ = 19;  // the rate of the latest samples, for the period of a profile
  std::unique_ptr<CpuSampler> sampler_;
  std::optional<Error> sampler_error_;  // why the sampler could not be opened (logged once)
  // The program's one cache: a binary the BPF watch or the leak detector indexed is not indexed
  // again here (go_binary_facts.h).
  std::shared_ptr<ModuleCache> module_cache_ = shared_module_cache();
  std::map<pid_t, std::shared_ptr<Target>> targets_;
  std::vector<std::shared_ptr<Collection>> collections_;
  // Push settings and state.
  std::string push_url_;
  std::chrono::milliseconds push_interval_{15000};
  std::map<std::string, std::string> push_labels_;
  std::chrono::steady_clock::time_point next_push_;
  std::vector<PyroscopePush> pending_;  // last windows of targets detached since the last push
  // Totals of the samplers closed so far (a reopened sampler counts from 0 again).
  std::vector<std::uint64_t> closed_counters_;
  prometheus::Counter* samples_total_ = nullptr;
  prometheus::Counter* samples_lost_ = nullptr;
  prometheus::CounterFamily* stacks_lost_ = nullptr;
  prometheus::CounterFamily* pushes_ = nullptr;
  // The sampler's maps at the last count (every 10 s by the drain thread), and where to
  // publish them.
  std::vector<MapOccupancy> occupancy_;
  std::chrono::steady_clock::time_point next_map_count_{};
  std::unique_ptr<BpfMapMetrics> map_metrics_;
  struct CacheCounters {
    prometheus::Counter *hits, *misses, *evictions, *errors;
    prometheus::Gauge *binaries, *bytes;
  };
  std::optional<CacheCounters> cache_counters_;
  // Last: it stops (in stop()) before anything its job uses goes.
  PeriodicWorker worker_{
      "goscry-cpu", std::chrono::seconds(1),
      PeriodicWorker::every(std::chrono::seconds(1), [this] { drain_and_push(); })};
};

// GET /debug/pprof/profile?pid=P&seconds=N (agent/daemon/profile_route.cpp): N whole seconds,
// 30 when absent, at most kMaxProfileSeconds; a bad N is a 400, an untracked pid a 404.
inline constexpr int kMaxProfileSeconds = 300;
void add_profile_route(HttpServer& server, CpuProfiler& profiler);

}  // namespace goscry
