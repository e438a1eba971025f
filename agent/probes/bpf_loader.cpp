#include "agent/probes/bpf_loader.h"

#include <bpf/bpf.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <optional>

#include "agent/proc/privileges.h"
#include "cpu.skel.h"
#include "runtime.skel.h"

namespace goscry {

namespace {

// libbpf's own messages: kept (the last one explains a failed load) and printed only when
// GOSCRY_LIBBPF_DEBUG is set.
std::string last_libbpf_message;

int libbpf_print(libbpf_print_level level, const char* fmt, va_list args) {
  char buf[1024];
  std::vsnprintf(buf, sizeof buf, fmt, args);
  if (level != LIBBPF_DEBUG) last_libbpf_message = buf;
  if (std::getenv("GOSCRY_LIBBPF_DEBUG")) std::fputs(buf, stderr);
  return 0;
}

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

// Map types whose number of entries says how full they are.
bool has_countable_entries(bpf_map_type type) {
  switch (type) {
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_LRU_HASH:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
    case BPF_MAP_TYPE_HASH_OF_MAPS:
    case BPF_MAP_TYPE_LPM_TRIE:
    case BPF_MAP_TYPE_STACK_TRACE:
      return true;
    default:
      return false;  // arrays are always full; ring buffers and perf arrays hold no entries
  }
}

// Keys by bpf_map_get_next_key, one syscall per entry (~1.2 µs each). A key deleted under
// the walk (by the probes) restarts it from the first bucket: capped at max_entries.
std::uint64_t walk_keys(const bpf_map* map) {
  const std::size_t size = bpf_map__key_size(map);
  const std::uint64_t cap = bpf_map__max_entries(map);
  std::vector<unsigned char> key(size), next(size);
  const void* prev = nullptr;
  std::uint64_t n = 0;
  while (n < cap && bpf_map__get_next_key(map, prev, next.data(), size) == 0) {
    ++n;
    key.swap(next);
    prev = key.data();
  }
  return n;
}

// Keys by BPF_MAP_LOOKUP_BATCH, thousands per syscall: ~0.3 µs per entry, values copied
// with them (the only way the kernel hands out keys in bulk). Nothing for map types without
// batch operations (stack trace maps).
std::optional<std::uint64_t> batch_count(const bpf_map* map) {
  constexpr std::uint32_t kChunk = 4096;
  std::size_t value_size = bpf_map__value_size(map);
  const auto type = bpf_map__type(map);
  if (type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_LRU_PERCPU_HASH)
    value_size = (value_size + 7) / 8 * 8 * std::size_t(std::max(libbpf_num_possible_cpus(), 1));
  std::vector<unsigned char> keys(bpf_map__key_size(map) * kChunk), values(value_size * kChunk);
  // The resume token is a bucket index for hash maps; key-sized (at least 8) is enough.
  std::vector<unsigned char> in(std::max<std::size_t>(bpf_map__key_size(map), 8)), out(in.size());
  std::uint64_t n = 0;
  for (bool first = true;; first = false) {
    std::uint32_t count = kChunk;
    int r = bpf_map_lookup_batch(bpf_map__fd(map), first ? nullptr : in.data(), out.data(),
                                 keys.data(), values.data(), &count, nullptr);
    const int err = errno;
    if (r != 0 && err != ENOENT) return first ? std::nullopt : std::optional(n);
    n += count;
    if (r != 0) return n;  // ENOENT: the last batch
    in.swap(out);
  }
}

std::uint64_t count_keys(const bpf_map* map) {
  // The kernel keeps no element count user space can read (bpf_map_info has none).
  if (auto n = batch_count(map)) return *n;
  return walk_keys(map);
}

std::vector<MapOccupancy> occupancy_of(const bpf_object* obj) {
  std::vector<MapOccupancy> out;
  const bpf_map* map = nullptr;
  bpf_object__for_each_map(map, obj) {
    if (bpf_map__is_internal(map) || !has_countable_entries(bpf_map__type(map))) continue;
    out.push_back({bpf_map__name(map), count_keys(map), bpf_map__max_entries(map)});
  }
  return out;
}

}  // namespace

const char* program_name(RuntimeProgram p) {
  switch (p) {
    case RuntimeProgram::NewprocRet: return "newproc1 RET";
    case RuntimeProgram::GoroutineExit: return "goroutine exit";
    case RuntimeProgram::StwStopEntry: return "stopTheWorldWithSema entry";
    case RuntimeProgram::StwStopRet: return "stopTheWorldWithSema RET";
    case RuntimeProgram::GcMarkTermination: return "gcMarkTermination entry";
    case RuntimeProgram::StwStartEntry: return "startTheWorldWithSema entry";
    case RuntimeProgram::StwStartRet: return "startTheWorldWithSema RET";
    case RuntimeProgram::GcPauseEnd: return "gcControllerCommit RET";
    case RuntimeProgram::Noop: return "no-op";
  }
  return "?";
}

bpf_uprobe_opts entry_uprobe_opts() {
  bpf_uprobe_opts opts;
  std::memset(&opts, 0, sizeof opts);
  opts.sz = sizeof opts;
  opts.retprobe = false;  // never: see the header
  return opts;
}

UprobeLink::~UprobeLink() {
  if (link_) bpf_link__destroy(link_);
}

Result<std::unique_ptr<BpfLoader>> BpfLoader::open() {
  libbpf_set_print(libbpf_print);
  std::unique_ptr<BpfLoader> loader(new BpfLoader());
  loader->skel_ = runtime_bpf::open();
  if (!loader->skel_) return fail("runtime.bpf.o: cannot open: " + errno_text(errno));
  if (int err = runtime_bpf::load(loader->skel_); err != 0) {
    if (auto why = missing_privileges()) return fail(*why);
    return fail("runtime.bpf.o: the kernel refused to load it (" + errno_text(err) +
                "): " + last_libbpf_message);
  }
  auto on_record = [](void* ctx, void* data, std::size_t size) -> int {
    auto* self = static_cast<BpfLoader*>(ctx);
    if (size >= sizeof(goscry_event) && self->on_event_) {
      goscry_event e;
      std::memcpy(&e, data, sizeof e);
      self->on_event_(e);
    }
    return 0;
  };
  loader->ring_ = ring_buffer__new(bpf_map__fd(loader->skel_->maps.events), on_record,
                                   loader.get(), nullptr);
  if (!loader->ring_)
    return fail("runtime.bpf.o: cannot map the ring buffer: " + errno_text(errno));
  return loader;
}

BpfLoader::~BpfLoader() {
  if (ring_) ring_buffer__free(ring_);
  if (skel_) runtime_bpf::destroy(skel_);
}

bpf_program* BpfLoader::program(RuntimeProgram p) const {
  auto& progs = skel_->progs;
  switch (p) {
    case RuntimeProgram::NewprocRet: return progs.goscry_newproc1_ret;
    case RuntimeProgram::GoroutineExit: return progs.goscry_goroutine_exit;
    case RuntimeProgram::StwStopEntry: return progs.goscry_stw_stop_entry;
    case RuntimeProgram::StwStopRet: return progs.goscry_stw_stop_ret;
    case RuntimeProgram::GcMarkTermination: return progs.goscry_gc_mark_termination;
    case RuntimeProgram::StwStartEntry: return progs.goscry_stw_start_entry;
    case RuntimeProgram::StwStartRet: return progs.goscry_stw_start_ret;
    case RuntimeProgram::GcPauseEnd: return progs.goscry_gc_pause_end;
    case RuntimeProgram::Noop: return progs.goscry_noop;
  }
  return nullptr;
}

Result<void> BpfLoader::add_target(std::uint32_t tgid, const goscry_settings& settings) {
  if (bpf_map__update_elem(skel_->maps.settings, &tgid, sizeof tgid, &settings, sizeof settings,
                           BPF_ANY) != 0)
    return fail("pid " + std::to_string(tgid) + ": cannot add the target to the settings map (" +
                errno_text(errno) + (errno == E2BIG ? ": too many targets)" : ")"));
  return {};
}

template <typename Key>
void BpfLoader::delete_keys_of(bpf_map* map, std::uint32_t tgid) {
  // Collect first: deleting while iterating restarts get_next_key from the beginning.
  std::vector<Key> doomed;
  Key key{}, next{};
  const Key* prev = nullptr;
  while (bpf_map__get_next_key(map, prev, &next, sizeof next) == 0) {
    if (next.tgid == tgid) doomed.push_back(next);
    key = next;
    prev = &key;
  }
  for (const auto& k : doomed) bpf_map__delete_elem(map, &k, sizeof k, 0);
}

void BpfLoader::remove_target(std::uint32_t tgid) {
  bpf_map__delete_elem(skel_->maps.settings, &tgid, sizeof tgid, 0);
  bpf_map__delete_elem(skel_->maps.stw_inflight, &tgid, sizeof tgid, 0);
  delete_keys_of<goscry_site_key>(skel_->maps.sites, tgid);
}

Result<UprobeLink> BpfLoader::attach_uprobe(const UprobeRequest& request) {
  bpf_uprobe_opts opts = entry_uprobe_opts();
  opts.bpf_cookie = request.cookie;
  attach_log_.push_back({request, opts.retprobe});
  bpf_link* link = bpf_program__attach_uprobe_opts(program(request.program), request.pid,
                                                   request.binary.c_str(),
                                                   request.file_offset, &opts);
  if (!link) {
    int err = errno;
    if (err == EPERM || err == EACCES)
      if (auto why = missing_privileges()) return fail(*why);
    return fail(request.binary + ": cannot attach a uprobe (" + program_name(request.program) +
                ") at file offset " + to_hex(request.file_offset) + " for pid " +
                std::to_string(request.pid) + ": " + errno_text(err));
  }
  return UprobeLink(link);
}

Result<std::vector<SiteCounts>> BpfLoader::site_counts(std::uint32_t tgid) const {
  std::vector<SiteCounts> out;
  goscry_site_key key{}, next{};
  const goscry_site_key* prev = nullptr;
  while (bpf_map__get_next_key(skel_->maps.sites, prev, &next, sizeof next) == 0) {
    key = next;
    prev = &key;
    if (key.tgid != tgid) continue;
    goscry_site_counts c{};
    if (bpf_map__lookup_elem(skel_->maps.sites, &key, sizeof key, &c, sizeof c, 0) != 0)
      continue;  // deleted meanwhile
    out.push_back({key.gopc, c.created, c.exited, c.startpc});
  }
  return out;
}

Result<ProgramStats> BpfLoader::program_stats(RuntimeProgram p) const {
  bpf_prog_info info;
  std::memset(&info, 0, sizeof info);
  std::uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(bpf_program__fd(program(p)), &info, &len) != 0)
    return fail(std::string("cannot read the statistics of the ") + program_name(p) +
                " program: " + errno_text(errno));
  return ProgramStats{info.run_cnt, info.run_time_ns};
}

Result<std::array<std::uint64_t, GOSCRY_CNT_MAX>> BpfLoader::counters() const {
  std::array<std::uint64_t, GOSCRY_CNT_MAX> sums{};
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return fail("cannot count the possible CPUs: " + errno_text(cpus));
  std::vector<std::uint64_t> per_cpu(cpus);
  for (std::uint32_t i = 0; i < GOSCRY_CNT_MAX; ++i) {
    if (bpf_map__lookup_elem(skel_->maps.counters, &i, sizeof i, per_cpu.data(),
                             per_cpu.size() * sizeof(std::uint64_t), 0) != 0)
      return fail("cannot read the BPF drop counters: " + errno_text(errno));
    for (auto v : per_cpu) sums[i] += v;
  }
  return sums;
}

Result<int> BpfLoader::drain(const std::function<void(const goscry_event&)>& on_event) {
  on_event_ = on_event;
  int n = ring_buffer__consume(ring_);
  on_event_ = nullptr;
  if (n < 0) return fail("cannot read the BPF ring buffer: " + errno_text(n));
  return n;
}

Result<int> BpfLoader::poll(int timeout_ms,
                            const std::function<void(const goscry_event&)>& on_event) {
  on_event_ = on_event;
  int n = ring_buffer__poll(ring_, timeout_ms);
  on_event_ = nullptr;
  if (n == -EINTR) return 0;
  if (n < 0) return fail("cannot read the BPF ring buffer: " + errno_text(n));
  return n;
}

std::vector<MapOccupancy> BpfLoader::map_occupancy() const { return occupancy_of(skel_->obj); }

std::vector<MapOccupancy> CpuSampler::map_occupancy() const { return occupancy_of(skel_->obj); }

Result<std::unique_ptr<CpuSampler>> CpuSampler::open(int hz) {
  libbpf_set_print(libbpf_print);
  std::unique_ptr<CpuSampler> s(new CpuSampler());
  s->skel_ = cpu_bpf::open();
  if (!s->skel_) return fail("cpu.bpf.o: cannot open: " + errno_text(errno));
  if (int err = cpu_bpf::load(s->skel_); err != 0) {
    if (auto why = missing_privileges()) return fail(*why);
    return fail("cpu.bpf.o: the kernel refused to load it (" + errno_text(err) +
                "): " + last_libbpf_message);
  }
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return fail("cannot count the possible CPUs: " + errno_text(cpus));
  for (int cpu = 0; cpu < cpus; ++cpu) {
    perf_event_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    // cpu-clock turns a frequency into the fixed period 1e9/hz: every sample stands for
    // the same CPU time, which is what makes the counts a CPU profile.
    attr.freq = 1;
    attr.sample_freq = static_cast<std::uint64_t>(hz);
    int fd = static_cast<int>(syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC));
    if (fd < 0) {
      if (errno == ENODEV) continue;  // a possible CPU that is offline
      int err = errno;
      if (auto why = missing_privileges()) return fail(*why);
      return fail("cannot open a cpu-clock perf event on CPU " + std::to_string(cpu) + ": " +
                  errno_text(err));
    }
    s->event_fds_.push_back(fd);
    bpf_link* link = bpf_program__attach_perf_event(s->skel_->progs.goscry_cpu_sample, fd);
    if (!link)
      return fail("cannot attach the CPU sampler to CPU " + std::to_string(cpu) + ": " +
                  errno_text(errno));
    s->links_.push_back(link);
  }
  if (s->links_.empty()) return fail("no online CPU accepted a cpu-clock perf event");
  return s;
}

void CpuSampler::stop() {
  for (auto* l : links_) bpf_link__destroy(l);
  links_.clear();
  for (int fd : event_fds_) close(fd);
  event_fds_.clear();
}

CpuSampler::~CpuSampler() {
  stop();
  if (skel_) cpu_bpf::destroy(skel_);
}

Result<void> CpuSampler::add_target(std::uint32_t tgid, const goscry_cpu_target& what) {
  if (bpf_map__update_elem(skel_->maps.cpu_targets, &tgid, sizeof tgid, &what, sizeof what,
                           BPF_ANY) != 0)
    return fail("pid " + std::to_string(tgid) + ": cannot add the target to the CPU sampler (" +
                errno_text(errno) + (errno == E2BIG ? ": too many targets)" : ")"));
  return {};
}

void CpuSampler::remove_target(std::uint32_t tgid) {
  bpf_map__delete_elem(skel_->maps.cpu_targets, &tgid, sizeof tgid, 0);
}

void CpuSampler::forget_stacks(const std::vector<std::int32_t>& ids) {
  for (std::int32_t id : ids) {
    if (id < 0) continue;
    std::uint32_t key = static_cast<std::uint32_t>(id);
    bpf_map__delete_elem(skel_->maps.stacks, &key, sizeof key, 0);
  }
}

std::vector<goscry_cpu_key> CpuSampler::peek_keys() const {
  std::vector<goscry_cpu_key> keys;
  goscry_cpu_key key{}, next{};
  const goscry_cpu_key* prev = nullptr;
  while (bpf_map__get_next_key(skel_->maps.counts, prev, &next, sizeof next) == 0) {
    keys.push_back(next);
    key = next;
    prev = &key;
    if (keys.size() > counts_capacity) break;  // a map changing under us cannot loop forever
  }
  return keys;
}

std::size_t CpuSampler::count_entries() const { return peek_keys().size(); }

std::vector<CpuCount> CpuSampler::drain_counts() {
  std::vector<CpuCount> out;
  for (const auto& k : peek_keys()) {
    std::uint64_t n = 0;
    if (bpf_map__lookup_elem(skel_->maps.counts, &k, sizeof k, &n, sizeof n, 0) != 0) continue;
    bpf_map__delete_elem(skel_->maps.counts, &k, sizeof k, 0);
    out.push_back({k, n});
  }
  return out;
}

std::vector<std::uint64_t> CpuSampler::stack(std::int32_t id) const {
  if (id < 0) return {};
  std::vector<std::uint64_t> pcs(GOSCRY_CPU_MAX_FRAMES);
  std::uint32_t key = static_cast<std::uint32_t>(id);
  if (bpf_map__lookup_elem(skel_->maps.stacks, &key, sizeof key, pcs.data(),
                           pcs.size() * sizeof(std::uint64_t), 0) != 0)
    return {};
  std::size_t n = 0;
  while (n < pcs.size() && pcs[n] != 0) ++n;  // the kernel zero-fills after the last frame
  pcs.resize(n);
  return pcs;
}

Result<std::array<std::uint64_t, GOSCRY_CPU_CNT_MAX>> CpuSampler::counters() const {
  std::array<std::uint64_t, GOSCRY_CPU_CNT_MAX> sums{};
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return fail("cannot count the possible CPUs: " + errno_text(cpus));
  std::vector<std::uint64_t> per_cpu(cpus);
  for (std::uint32_t i = 0; i < GOSCRY_CPU_CNT_MAX; ++i) {
    if (bpf_map__lookup_elem(skel_->maps.cpu_counters, &i, sizeof i, per_cpu.data(),
                             per_cpu.size() * sizeof(std::uint64_t), 0) != 0)
      return fail("cannot read the CPU sampler's counters: " + errno_text(errno));
    for (auto v : per_cpu) sums[i] += v;
  }
  return sums;
}

}  // namespace goscry
