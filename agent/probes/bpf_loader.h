// The one place that owns the BPF skeletons (docs/contributing.md, "BPF"): opens and loads
// runtime.bpf.o once, fills the per-target settings, attaches uprobes, reads the per-site
// counters and the drop counters, and drains the ring buffer. Everything above talks to
// this class.
//
// Every uprobe goes through attach_uprobe(), whose options come from entry_uprobe_opts():
// goscry never asks libbpf for a uretprobe (a rewritten return address kills Go programs).
#pragma once

#include <bpf/libbpf.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "bpf/runtime.h"
#include "symbolizer/error.h"

struct runtime_bpf;

namespace goscry {

// The programs of runtime.bpf.c, by where they are meant to sit.
enum class RuntimeProgram {
  NewprocRet,         // RETs of runtime.newproc1, or after its CALLs (register in the cookie)
  GoroutineExit,      // entry of runtime.gdestroy / runtime.goexit0
  StwStopEntry,       // entry of stopTheWorldWithSema (<= 1.21)
  StwStopRet,         // every RET of stopTheWorldWithSema (1.22+)
  GcMarkTermination,  // entry of runtime.gcMarkTermination
  StwStartEntry,      // entry of startTheWorldWithSema (1.22+)
  StwStartRet,        // every RET of startTheWorldWithSema
  GcPauseEnd,         // every RET of gcControllerCommit (<= 1.21)
  GcStart,            // the Jcc of runtime.gcStart's stack check: why a cycle runs
  Noop,               // does nothing: the benchmarks' floor (bare uprobe cost)
};
const char* program_name(RuntimeProgram p);

struct UprobeRequest {
  RuntimeProgram program;
  std::string binary;        // path the kernel resolves to an inode (/proc/PID/exe works)
  std::uint64_t file_offset; // of the probed instruction in that file
  int pid;                   // the only process the probe fires for
  // bpf_get_attach_cookie() of the program: for NewprocRet, the register that holds the
  // new g (enum goscry_reg; 0 = RAX, as at a RET of newproc1). Kernels without BPF
  // cookies (< 5.15) get it from the probe_regs map instead, keyed by `address`.
  std::uint64_t cookie = 0;
  // The probed instruction's address in the process (plan_probes gives the link-time one;
  // Attachment::attach adds the load bias).
  std::uint64_t address = 0;
};

// What goscry's BPF programs need of a kernel, probed at start (docs/kernels.md).
struct KernelFeatures {
  bool btf = false;              // /sys/kernel/btf/vmlinux: CO-RE (5.4+ with BTF on)
  bool ringbuf = false;          // BPF_MAP_TYPE_RINGBUF (5.8)
  bool probe_read_user = false;  // bpf_probe_read_user (5.5)
  bool attach_cookie = false;    // bpf_get_attach_cookie (5.15); else the probe_regs map
};

// The release of the running kernel (uname -r).
std::string kernel_release();
// Probes the running kernel (needs CAP_BPF: a few tiny programs and maps are loaded).
KernelFeatures probe_kernel_features();
// One sentence naming the kernel and what it lacks, when goscry cannot run on it; nullopt
// when it can.
std::optional<std::string> unsupported_kernel(const std::string& release,
                                              const KernelFeatures& f);
// The verifier's own explanation in libbpf's messages of a failed load: "prog 'P': <the
// verifier's last error line>", then its whole log, so a user can file it. Empty when the
// messages hold no verifier log.
std::string verifier_failure(const std::string& libbpf_messages);

// What the loader asked libbpf for, kept so a test can check it.
struct AttachRecord {
  UprobeRequest request;
  bool retprobe;
};

// The options of every goscry uprobe: an entry probe, never a return probe.
bpf_uprobe_opts entry_uprobe_opts();

// A uprobe; detaches when destroyed.
class UprobeLink {
 public:
  explicit UprobeLink(bpf_link* link) : link_(link) {}
  ~UprobeLink();
  UprobeLink(UprobeLink&& o) noexcept : link_(o.link_) { o.link_ = nullptr; }
  UprobeLink& operator=(UprobeLink&&) = delete;
  UprobeLink(const UprobeLink&) = delete;

 private:
  bpf_link* link_;
};

// How often a program ran and for how long in all: counted only while the kernel's BPF
// statistics are on (sysctl kernel.bpf_stats_enabled, or a bpf_enable_stats() fd held).
struct ProgramStats {
  std::uint64_t runs = 0;
  std::uint64_t run_time_ns = 0;
};

// The probes' counters of one creation site, cumulative since attach.
struct SiteCounts {
  std::uint64_t gopc = 0;
  std::uint64_t created = 0;
  std::uint64_t exited = 0;
  std::uint64_t startpc = 0;  // of the last goroutine created there
};

// One entry of the window map: a goroutine of the attach window (bpf/runtime.h).
struct WindowEntry {
  std::uint64_t goid = 0;
  goscry_window_entry seen{};
};

// How full one BPF map is, for goscry_bpf_map_entries / goscry_bpf_map_capacity. Only maps
// whose entries come and go (hash-like, stack traces) are listed: an array always holds
// max_entries, a ring buffer has no entries to count.
struct MapOccupancy {
  std::string name;        // as declared in the .bpf.c file
  std::uint64_t entries;   // keys in the map now (a walk of them; see occupancy_of)
  std::uint32_t capacity;  // max_entries
};

class BpfLoader {
 public:
  // The attach window map's size when nothing says more (bpf/runtime.bpf.c): a target with
  // ~60,000 goroutines at attach.
  static constexpr std::uint32_t kWindowEntries = 65536;
  // Opens and loads runtime.bpf.o, its attach window map sized for `window_entries`
  // goroutines. Missing privileges end in one sentence naming them.
  static Result<std::unique_ptr<BpfLoader>> open(std::uint32_t window_entries = kWindowEntries);
  ~BpfLoader();
  BpfLoader(const BpfLoader&) = delete;
  BpfLoader& operator=(const BpfLoader&) = delete;

  Result<void> add_target(std::uint32_t tgid, const goscry_settings& settings);
  // Forgets a target: its settings, sites and in-flight STW.
  void remove_target(std::uint32_t tgid);

  Result<UprobeLink> attach_uprobe(const UprobeRequest& request);
  const std::vector<AttachRecord>& attach_log() const { return attach_log_; }
  // Whether the programs read their probe's register from the BPF cookie (5.15+) or from
  // the probe_regs map this loader fills (older kernels).
  bool uses_cookies() const { return features_.attach_cookie; }

  Result<std::vector<SiteCounts>> site_counts(std::uint32_t tgid) const;
  // The target's entries of the window map (goroutines of the attach window), and their
  // deletion once read for good. Bounded by the map's size, not by time.
  std::vector<WindowEntry> window_entries(std::uint32_t tgid) const;
  void forget_window_entries(std::uint32_t tgid, const std::vector<std::uint64_t>& goids);
  // Drops the threads' hold on their last ended goroutine, once the window is closed.
  void forget_window_threads(std::uint32_t tgid);
  // Per start function (run-time startpc), the goroutines born before the probes that
  // ended while the window was open and whose entry went unread (window_unseen_ends).
  std::vector<std::pair<std::uint64_t, std::uint64_t>> window_unseen_ends(
      std::uint32_t tgid) const;
  // Runs and run time of one of the loaded programs (the cost benchmarks).
  Result<ProgramStats> program_stats(RuntimeProgram p) const;
  // Sums over CPUs of the drop / failed-read counters (enum goscry_counter).
  Result<std::array<std::uint64_t, GOSCRY_CNT_MAX>> counters() const;
  // Hands every ring-buffer record waiting now to `on_event`; returns how many. At most
  // as many as the ring holds: records that keep coming while it hands them over wait for
  // the next call, so a target writing faster than the caller reads cannot hold it (seen
  // under emulation, where libbpf's loop never ran out of records).
  Result<int> drain(const std::function<void(const goscry_event&)>& on_event);
  // Waits up to `timeout_ms` for records, then hands over the waiting ones as drain does.
  // EINTR (a signal to stop) returns 0.
  Result<int> poll(int timeout_ms, const std::function<void(const goscry_event&)>& on_event);
  // Every countable map of runtime.bpf.o, whatever maps the skeleton has. Reads every key
  // (~0.3 µs of CPU per entry in batches, ~40 ms for a full 131,072-entry map), so callers
  // run it seldom (every 10 s).
  std::vector<MapOccupancy> map_occupancy() const;

 private:
  BpfLoader() = default;
  bpf_program* program(RuntimeProgram p) const;
  template <typename Key>
  void delete_keys_of(bpf_map* map, std::uint32_t tgid);

  Result<void> add_probe_register(const UprobeRequest& request);
  // Runs `read_ring` (libbpf's consume or poll) with on_event_ set, counting what it hands.
  Result<int> hand_over(const std::function<void(const goscry_event&)>& on_event,
                        const std::function<int()>& read_ring);

  runtime_bpf* skel_ = nullptr;
  KernelFeatures features_;
  ring_buffer* ring_ = nullptr;
  std::function<void(const goscry_event&)> on_event_;
  std::size_t handed_ = 0;         // records handed over by this drain or poll
  std::size_t ring_records_ = 0;   // the most the ring holds
  std::vector<AttachRecord> attach_log_;
};

}  // namespace goscry

#include "agent/probes/cpu_stack_table.h"
#include "bpf/cpu.h"

struct cpu_bpf;

namespace goscry {

// Samples counted under one key: {tgid, stack ids in the sampler's table, goroutine, labels,
// frameless leaf's return address}. A stack id < 0 has no stack (see goscry_cpu_key).
struct CpuCount {
  goscry_cpu_key key{};
  std::uint64_t count = 0;
};

// cpu.bpf.o: a cpu-clock perf event per CPU at `hz`, sampling the added tgids. Every sample
// comes through a ring with its stacks; the sampler counts them per key as it reads the
// ring and keeps each distinct stack once (CpuStackTable).
class CpuSampler {
 public:
  // Loads the program and attaches it to one event per online CPU. Missing privileges end
  // in one sentence naming them.
  static Result<std::unique_ptr<CpuSampler>> open(int hz);
  ~CpuSampler();
  CpuSampler(const CpuSampler&) = delete;
  CpuSampler& operator=(const CpuSampler&) = delete;

  // Samples `tgid`; `what` says where its goroutine, labels and Go text are (all zero: a
  // non-Go process or one whose runtime layout is unknown, stacks only).
  Result<void> add_target(std::uint32_t tgid, const goscry_cpu_target& what = {});
  // Stops sampling the process (its samples already in the ring are still counted).
  void remove_target(std::uint32_t tgid);
  // Stops sampling (closes the events); the ring, counts and stacks stay readable.
  void stop();
  // Counts the samples waiting in the ring. The ring holds ~2 s of samples of every CPU
  // at the rate: a caller that drains less often than each second reads it in between.
  void read_ring();
  // Reads the ring, then takes every count out.
  std::vector<CpuCount> drain_counts();
  // The return addresses of a stack id, leaf first; empty if the id is not stored.
  std::vector<std::uint64_t> stack(std::int32_t id) const { return stacks_.stack(id); }
  // Frees stacks already read, for a sampler that runs for ever (the agent): a stack
  // sampled again is stored again, under a new id.
  void forget_stacks(const std::vector<std::int32_t>& ids);
  // Sums over CPUs of enum goscry_cpu_counter (GOSCRY_CPU_*_TABLE_FULL: the sampler's own).
  Result<std::array<std::uint64_t, GOSCRY_CPU_CNT_MAX>> counters() const;
  // As BpfLoader::map_occupancy, for cpu.bpf.o.
  std::vector<MapOccupancy> map_occupancy() const;

 private:
  CpuSampler() = default;
  static int on_record(void* self, void* data, std::size_t size);
  void count_sample(const goscry_cpu_sample& s);
  std::int32_t stack_id(const __u64* pcs, std::uint32_t frames, std::int32_t error,
                        bool kernel);

  cpu_bpf* skel_ = nullptr;
  ring_buffer* ring_ = nullptr;
  std::vector<bpf_link*> links_;
  std::vector<int> event_fds_;
  CpuStackTable stacks_;
  std::map<std::tuple<std::uint32_t, std::int32_t, std::int32_t, std::uint64_t, std::uint64_t,
                      std::uint64_t>,
           CpuCount>
      counts_;  // since the last drain
  std::uint64_t user_table_full_ = 0;  // stacks refused by stacks_ (GOSCRY_CPU_*_TABLE_FULL)
  // What add_target said of each target: where its samples on the system stack continue on
  // the goroutine's, and runtime.goexit (agent/probes/cpu_stack_switch.h).
  std::map<std::uint32_t, goscry_cpu_target> targets_;
  std::uint64_t kernel_table_full_ = 0;
};

}  // namespace goscry
