// The memory-read profiles of the agent's targets: heap and allocs as `goscry heap` reads
// them (agent/goruntime/heap_records.h, heap_profile.h), block and mutex as `goscry block`
// and `goscry mutex` (contention_records.h): nothing is written to a target and no target
// code runs. As a TargetSource it exports goscry_alloc_bytes_total{site} (the allocated
// bytes per allocating function since the target started, unsampled as runtime/pprof does,
// as of the last completed GC); the routes (agent/daemon/heap_routes.h) answer
// /debug/pprof/{heap,allocs,block,mutex} through it.
//
// Cost, bounded on purpose (docs/agent.md "Heap profiles"): one thread reads the records,
// one target at a time, each target at most every `interval` (10 s), and only when a GC
// published new counts since its last read (two words say so); after a read that took
// d it rests at least d x (1/max_duty - 1), so the periodic reads use at most 5 % of one
// core whatever the targets. A route's read is one at a time per target (a second request
// for the same target is refused, 429, whichever profile it asks), and a window is at most
// kMaxAllocsSeconds.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/base/periodic_worker.h"
#include "agent/daemon/duty_cycle.h"
#include "agent/daemon/target_source.h"
#include "agent/daemon/watched_targets.h"
#include "agent/goruntime/contention_profile.h"
#include "agent/goruntime/go_process.h"
#include "agent/goruntime/heap_profile.h"
#include "agent/goruntime/heap_records.h"

namespace goscry {

struct HeapWatchOptions {
  std::chrono::milliseconds interval{10000};
  // No read of a target younger than this: targets that live a few seconds (jobs, CLI
  // tools under --all) are never opened, as for the leak detector.
  std::chrono::milliseconds first_after{5000};
  double max_duty = 0.05;
};

// The longest allocs window a request may ask for, as /debug/pprof/profile's.
inline constexpr int kMaxAllocsSeconds = 300;

// Why a route got no profile, with the HTTP status that says so.
struct HeapRefusal {
  int status;  // 404 unknown pid, 429 a read of the target in progress, 503 agent stopping,
               // 500 the read failed (the sentence says why)
  std::string message;
};

// What a route asks for.
struct HeapRequest {
  pid_t pid = 0;
  int seconds = 0;      // 0: the profile now; N: the delta over the next N seconds
  bool allocs = false;  // the "allocs" profile: alloc_space shown by default
  // Asked every 200 ms during a window: true ends it (the client went away).
  std::function<bool()> cancelled;
};

// A profile and the process it was read from (to encode it: the mapping, the pid).
template <typename Profile>
struct ProfileAnswer {
  Profile profile;
  std::shared_ptr<const GoProcess> process;
};
using HeapAnswer = ProfileAnswer<HeapProfile>;
using ContentionAnswer = ProfileAnswer<ContentionProfile>;

class HeapSource : public TargetSource {
 public:
  explicit HeapSource(HeapWatchOptions options = {});
  ~HeapSource() override;
  HeapSource(const HeapSource&) = delete;
  HeapSource& operator=(const HeapSource&) = delete;

  std::string_view name() const override { return "heap"; }
  Result<void> attach(const TargetInfo& target) override;
  void detach(const TargetInfo& target) override;
  void read(const TargetInfo& target, TargetFigures& figures) override;

  // For the routes. A block or mutex profile of a program that never set its rate is
  // empty, as net/http/pprof answers it; the agent never writes the rate.
  std::expected<HeapAnswer, HeapRefusal> profile(const HeapRequest& request);
  std::expected<ContentionAnswer, HeapRefusal> contention(const HeapRequest& request,
                                                          ContentionKind kind);
  // The agent is stopping: windows in progress end at once (503), no new one starts.
  void stop();

 private:
  struct Watched {
    TargetInfo info;
    std::mutex mu;                     // one read of the target at a time
    std::atomic<bool> serving{false};         // a route's request is in progress
    std::chrono::steady_clock::time_point due;
    bool off = false;  // not a target goscry can read the heap of (logged once)
    std::mutex figures_mu;
    std::optional<std::vector<prometheus::Ranked>> alloc_by_site;
    // The stamp of the read behind alloc_by_site, once it is settled (heap_records.h).
    std::optional<HeapStamp> read_at;
  };
  std::shared_ptr<Watched> find(pid_t pid) const;
  std::shared_ptr<Watched> due_first() const;
  std::chrono::steady_clock::time_point read_due();
  void read_sites(Watched& w);
  bool unchanged_since_last_read(Watched& w);
  // `settled`, when given, gets the read's stamp if it is settled.
  Result<HeapProfile> read_now(Watched& w, std::optional<HeapStamp>* settled = nullptr);
  // One route request: the first read, the window's second read and their delta.
  template <typename Profile, typename Read, typename Delta>
  std::expected<ProfileAnswer<Profile>, HeapRefusal> serve(const HeapRequest& r, Read read,
                                                           Delta delta);
  // Sleeps until `seconds` passed, the request is cancelled or the agent stops; false for
  // the last two.
  bool wait_window(const HeapRequest& request, const Watched& w);

  HeapWatchOptions options_;
  mutable std::mutex mu_;  // targets_
  std::map<pid_t, std::shared_ptr<Watched>> targets_;
  DutyCycle duty_;  // the worker's
  std::atomic<bool> stopping_{false};
  // Last: it stops (in the destructor) before anything its job uses goes.
  PeriodicWorker worker_;
};

}  // namespace goscry
