#include "agent/probes/bpf_loader.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <optional>
#include <string_view>

#include "agent/probes/cpu_stack_switch.h"
#include "agent/proc/privileges.h"
#include "cpu.skel.h"
#include "runtime.skel.h"

namespace goscry {

namespace {

// What on_record returns once a drain or poll has handed over as many records as the ring
// holds (any negative value stops libbpf's loop; this one is not an errno it returns).
constexpr int kHandedEnough = -1000;

// libbpf's messages of this thread go to the LibbpfMessages alive in it (libbpf calls the
// print function in the thread that called it), whole: a failed load's message holds the
// verifier's entire log. Printed as well when GOSCRY_LIBBPF_DEBUG is set.
thread_local std::string* libbpf_sink = nullptr;

int libbpf_print(libbpf_print_level level, const char* fmt, va_list args) {
  va_list copy;
  va_copy(copy, args);
  const int n = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (n <= 0) return 0;
  std::string text(static_cast<std::size_t>(n) + 1, '\0');
  std::vsnprintf(text.data(), text.size(), fmt, args);
  text.resize(static_cast<std::size_t>(n));
  if (level != LIBBPF_DEBUG && libbpf_sink) *libbpf_sink += text;
  if (std::getenv("GOSCRY_LIBBPF_DEBUG")) std::fputs(text.c_str(), stderr);
  return 0;
}

// Collects libbpf's warnings and errors of this thread while it lives.
class LibbpfMessages {
 public:
  LibbpfMessages() : outer_(libbpf_sink) {
    libbpf_set_print(libbpf_print);
    libbpf_sink = &text_;
  }
  ~LibbpfMessages() { libbpf_sink = outer_; }
  LibbpfMessages(const LibbpfMessages&) = delete;
  LibbpfMessages& operator=(const LibbpfMessages&) = delete;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::string* outer_;
};

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

// Whether the kernel's enum bpf_func_id has `helper`: the same test as the programs'
// bpf_core_enum_value_exists, so user space and BPF take the same path.
bool kernel_has_helper(const btf* vmlinux, std::string_view helper) {
  const int id = btf__find_by_name_kind(vmlinux, "bpf_func_id", BTF_KIND_ENUM);
  if (id <= 0) return false;
  const btf_type* t = btf__type_by_id(vmlinux, id);
  const struct btf_enum* e = btf_enum(t);
  for (int i = 0; i < btf_vlen(t); ++i)
    if (helper == btf__name_by_offset(vmlinux, e[i].name_off)) return true;
  return false;
}

// Drops the trailing newlines of libbpf's last message, for a one-line error.
std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Why the kernel refused `object`: the verifier's explanation and whole log when there is
// one, else libbpf's messages.
std::string load_failure(const char* object, int err, const std::string& messages) {
  std::string head = std::string(object) + ": the kernel (Linux " + kernel_release() +
                     ") refused to load it (" + errno_text(err) + ")";
  if (auto v = verifier_failure(messages); !v.empty()) return head + ": " + v;
  return head + ": " + trimmed(messages);
}

// The capabilities, then the kernel: a probe that fails for want of CAP_BPF looks like a
// missing feature.
std::optional<Error> cannot_run(const KernelFeatures& f) {
  auto why = unsupported_kernel(kernel_release(), f);
  if (!why) return std::nullopt;
  if (auto caps = missing_privileges()) return Error{ErrorKind::Permission, *caps, 0};
  return Error{ErrorKind::Unsupported, *why, 0};
}

// A refused load: EPERM/EACCES with every capability held is a lockdown or an LSM; any
// other refusal (the verifier's) is a kernel that cannot run the program.
std::unexpected<Error> load_refused(const char* object, int err, const std::string& messages) {
  const int e = err < 0 ? -err : err;
  const auto kind = (e == EPERM || e == EACCES) ? ErrorKind::Permission : ErrorKind::Unsupported;
  return std::unexpected(Error{kind, load_failure(object, err, messages), e});
}

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

// The per-CPU counters of an array map of N slots, summed over the possible CPUs.
template <std::size_t N>
Result<std::array<std::uint64_t, N>> sum_per_cpu(const bpf_map* map, const std::string& what) {
  std::array<std::uint64_t, N> sums{};
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return fail(ErrorKind::Io, "cannot count the possible CPUs: " + errno_text(cpus));
  std::vector<std::uint64_t> per_cpu(cpus);
  for (std::uint32_t i = 0; i < N; ++i) {
    if (bpf_map__lookup_elem(map, &i, sizeof i, per_cpu.data(),
                             per_cpu.size() * sizeof(std::uint64_t), 0) != 0)
      return fail(ErrorKind::Io, "cannot read " + what + ": " + errno_text(errno));
    for (auto v : per_cpu) sums[i] += v;
  }
  return sums;
}

}  // namespace

std::string kernel_release() {
  utsname u{};
  if (uname(&u) != 0) return "(unknown release)";
  return u.release;
}

KernelFeatures probe_kernel_features() {
  KernelFeatures f;
  if (btf* vmlinux = btf__load_vmlinux_btf()) {
    f.btf = true;
    f.attach_cookie = kernel_has_helper(vmlinux, "BPF_FUNC_get_attach_cookie");
    btf__free(vmlinux);
  }
  f.ringbuf = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) == 1;
  f.probe_read_user =
      libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_probe_read_user, nullptr) == 1;
  return f;
}

std::optional<std::string> unsupported_kernel(const std::string& release,
                                              const KernelFeatures& f) {
  std::string lacks;
  auto lack = [&](bool has, const char* what) {
    if (!has) lacks += (lacks.empty() ? "" : ", ") + std::string(what);
  };
  lack(f.btf, "BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF)");
  lack(f.ringbuf, "the BPF ring buffer (5.8)");
  lack(f.probe_read_user, "bpf_probe_read_user (5.5)");
  if (lacks.empty()) return std::nullopt;
  return "Linux " + release + " cannot run goscry, which needs Linux 5.8 or newer with BTF: " +
         "it lacks " + lacks;
}

std::string verifier_failure(const std::string& m) {
  constexpr std::string_view kBegin = "-- BEGIN PROG LOAD LOG --\n";
  constexpr std::string_view kEnd = "-- END PROG LOAD LOG --";
  const auto begin = m.find(kBegin);
  if (begin == std::string::npos) return "";
  const auto from = begin + kBegin.size();
  const auto end = std::min(m.find(kEnd, from), m.size());
  const std::string log = m.substr(from, end - from);
  // libbpf's line: "libbpf: prog 'NAME': -- BEGIN PROG LOAD LOG --".
  const auto line = m.rfind('\n', begin);
  const auto name_at = m.find("prog '", line == std::string::npos ? 0 : line + 1);
  std::string name = "?";
  if (name_at < begin) {
    const auto q = m.find('\'', name_at + 6);
    if (q < begin) name = m.substr(name_at + 6, q - name_at - 6);
  }
  // The cause is the last line before the verifier's statistics.
  std::string cause;
  std::size_t pos = 0;
  while (pos < log.size()) {
    auto nl = log.find('\n', pos);
    if (nl == std::string::npos) nl = log.size();
    std::string_view l(log.data() + pos, nl - pos);
    pos = nl + 1;
    if (l.empty() || l.starts_with("processed ") || l.starts_with("verification time ") ||
        l.starts_with("stack depth "))
      continue;
    cause = l;
  }
  return "prog '" + name + "': " + cause + "; the verifier's whole log:\n" + log;
}

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
    case RuntimeProgram::GcStart: return "gcStart stack check";
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

Result<std::unique_ptr<BpfLoader>> BpfLoader::open(std::uint32_t window_entries) {
  LibbpfMessages messages;
  std::unique_ptr<BpfLoader> loader(new BpfLoader());
  loader->features_ = probe_kernel_features();
  if (auto why = cannot_run(loader->features_)) return std::unexpected(*why);
  loader->skel_ = runtime_bpf::open();
  if (!loader->skel_)
    return fail(ErrorKind::Io, "runtime.bpf.o: cannot open: " + errno_text(errno));
  if (int err = bpf_map__set_max_entries(loader->skel_->maps.window, window_entries); err != 0)
    return fail(ErrorKind::Io, "runtime.bpf.o: cannot size the window map: " + errno_text(-err));
  if (int err = runtime_bpf::load(loader->skel_); err != 0) {
    if (auto why = missing_privileges()) return fail(ErrorKind::Permission, *why);
    return load_refused("runtime.bpf.o", err, messages.text());
  }
  auto on_record = [](void* ctx, void* data, std::size_t size) -> int {
    auto* self = static_cast<BpfLoader*>(ctx);
    if (size >= sizeof(goscry_event) && self->on_event_) {
      goscry_event e;
      std::memcpy(&e, data, sizeof e);
      self->on_event_(e);
    }
    // A negative return stops libbpf's loop after this record (it is consumed).
    return ++self->handed_ < self->ring_records_ ? 0 : kHandedEnough;
  };
  loader->ring_records_ =
      bpf_map__max_entries(loader->skel_->maps.events) / (sizeof(goscry_event) + BPF_RINGBUF_HDR_SZ);
  loader->ring_ = ring_buffer__new(bpf_map__fd(loader->skel_->maps.events), on_record,
                                   loader.get(), nullptr);
  if (!loader->ring_)
    return fail(ErrorKind::Io, "runtime.bpf.o: cannot map the ring buffer: " + errno_text(errno));
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
    case RuntimeProgram::GcStart: return progs.goscry_gc_start;
    case RuntimeProgram::Noop: return progs.goscry_noop;
  }
  return nullptr;
}

Result<void> BpfLoader::add_target(std::uint32_t tgid, const goscry_settings& settings) {
  if (bpf_map__update_elem(skel_->maps.settings, &tgid, sizeof tgid, &settings, sizeof settings,
                           BPF_ANY) != 0)
    return fail(ErrorKind::Io,
                "pid " + std::to_string(tgid) + ": cannot add the target to the settings map (" +
                    errno_text(errno) + (errno == E2BIG ? ": too many targets)" : ")"));
  return {};
}

// Calls fn(key) for each key of `map` that belongs to process `tgid` (a Key with a tgid).
template <typename Key, typename Fn>
void for_each_key_of(const bpf_map* map, std::uint32_t tgid, Fn fn) {
  Key key{}, next{};
  const Key* prev = nullptr;
  while (bpf_map__get_next_key(map, prev, &next, sizeof next) == 0) {
    key = next;
    prev = &key;
    if (key.tgid == tgid) fn(key);
  }
}

template <typename Key>
void BpfLoader::delete_keys_of(bpf_map* map, std::uint32_t tgid) {
  // Collect first: deleting while iterating restarts get_next_key from the beginning.
  std::vector<Key> doomed;
  for_each_key_of<Key>(map, tgid, [&](const Key& k) { doomed.push_back(k); });
  for (const auto& k : doomed) bpf_map__delete_elem(map, &k, sizeof k, 0);
}

void BpfLoader::remove_target(std::uint32_t tgid) {
  bpf_map__delete_elem(skel_->maps.settings, &tgid, sizeof tgid, 0);
  bpf_map__delete_elem(skel_->maps.stw_inflight, &tgid, sizeof tgid, 0);
  delete_keys_of<goscry_site_key>(skel_->maps.sites, tgid);
  delete_keys_of<goscry_probe_key>(skel_->maps.probe_regs, tgid);
  delete_keys_of<goscry_window_key>(skel_->maps.window, tgid);
  delete_keys_of<goscry_site_key>(skel_->maps.window_unseen_ends, tgid);
  delete_keys_of<goscry_gc_trigger_key>(skel_->maps.gc_triggers, tgid);
  forget_window_threads(tgid);
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> BpfLoader::window_unseen_ends(
    std::uint32_t tgid) const {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  const bpf_map* map = skel_->maps.window_unseen_ends;
  for_each_key_of<goscry_site_key>(map, tgid, [&](const goscry_site_key& key) {
    std::uint64_t n = 0;
    if (bpf_map__lookup_elem(map, &key, sizeof key, &n, sizeof n, 0) == 0)
      out.emplace_back(key.gopc, n);
  });
  return out;
}

std::vector<WindowEntry> BpfLoader::window_entries(std::uint32_t tgid) const {
  std::vector<WindowEntry> out;
  const bpf_map* map = skel_->maps.window;
  for_each_key_of<goscry_window_key>(map, tgid, [&](const goscry_window_key& key) {
    WindowEntry e{key.goid, {}};
    if (bpf_map__lookup_elem(map, &key, sizeof key, &e.seen, sizeof e.seen, 0) == 0)
      out.push_back(e);
  });
  return out;
}

void BpfLoader::forget_window_entries(std::uint32_t tgid,
                                      const std::vector<std::uint64_t>& goids) {
  for (auto goid : goids) {
    const goscry_window_key key{tgid, 0, goid};
    bpf_map__delete_elem(skel_->maps.window, &key, sizeof key, 0);
  }
}

void BpfLoader::forget_window_threads(std::uint32_t tgid) {
  // Keyed by pid_tgid: the tgid is the upper half.
  std::vector<std::uint64_t> doomed;
  std::uint64_t key = 0, next = 0;
  const std::uint64_t* prev = nullptr;
  while (bpf_map__get_next_key(skel_->maps.window_exiting, prev, &next, sizeof next) == 0) {
    if (next >> 32 == tgid) doomed.push_back(next);
    key = next;
    prev = &key;
  }
  for (const auto& k : doomed) bpf_map__delete_elem(skel_->maps.window_exiting, &k, sizeof k, 0);
}

Result<void> BpfLoader::add_probe_register(const UprobeRequest& request) {
  const goscry_probe_key key{static_cast<std::uint32_t>(request.pid), 0, request.address};
  const auto reg = static_cast<std::uint32_t>(request.cookie);
  if (request.address == 0)
    return fail(ErrorKind::Unsupported,
                request.binary + ": the probe at file offset " + to_hex(request.file_offset) +
                    " has no address in pid " + std::to_string(request.pid) +
                    ", which a kernel without BPF cookies needs to find its register");
  if (bpf_map__update_elem(skel_->maps.probe_regs, &key, sizeof key, &reg, sizeof reg,
                           BPF_ANY) != 0)
    return fail(ErrorKind::Io, "pid " + std::to_string(request.pid) +
                                   ": cannot add a probe's register (" + errno_text(errno) +
                                   (errno == E2BIG ? ": too many probes)" : ")"));
  return {};
}

Result<UprobeLink> BpfLoader::attach_uprobe(const UprobeRequest& request) {
  bpf_uprobe_opts opts = entry_uprobe_opts();
  // Without cookies (< 5.15) libbpf refuses a non-zero one (EOPNOTSUPP): the register goes
  // into probe_regs instead, before the probe, so that its first hit finds it.
  if (features_.attach_cookie) {
    opts.bpf_cookie = request.cookie;
  } else if (request.program == RuntimeProgram::NewprocRet) {
    if (auto r = add_probe_register(request); !r) return std::unexpected(r.error());
  }
  attach_log_.push_back({request, opts.retprobe});
  bpf_link* link = bpf_program__attach_uprobe_opts(program(request.program), request.pid,
                                                   request.binary.c_str(),
                                                   request.file_offset, &opts);
  if (!link) {
    int err = errno;
    if (err == EPERM || err == EACCES)
      if (auto why = missing_privileges()) return fail(ErrorKind::Permission, *why);
    if (err == EOPNOTSUPP && opts.bpf_cookie != 0)
      return fail(ErrorKind::Unsupported,
                  "Linux " + kernel_release() + " has bpf_get_attach_cookie but cannot attach " +
                      "a uprobe with a BPF cookie (BPF perf links, 5.15), which goscry's " +
                      "goroutine creation probes need");
    return std::unexpected(Error{kind_of_errno(err),
                                 request.binary + ": cannot attach a uprobe (" +
                                     program_name(request.program) + ") at file offset " +
                                     to_hex(request.file_offset) + " for pid " +
                                     std::to_string(request.pid) + ": " + errno_text(err),
                                 err});
  }
  return UprobeLink(link);
}

Result<std::vector<SiteCounts>> BpfLoader::site_counts(std::uint32_t tgid) const {
  std::vector<SiteCounts> out;
  const bpf_map* map = skel_->maps.sites;
  for_each_key_of<goscry_site_key>(map, tgid, [&](const goscry_site_key& key) {
    goscry_site_counts c{};
    // A key deleted meanwhile is left out.
    if (bpf_map__lookup_elem(map, &key, sizeof key, &c, sizeof c, 0) == 0)
      out.push_back({key.gopc, c.created, c.exited, c.startpc});
  });
  return out;
}

Result<ProgramStats> BpfLoader::program_stats(RuntimeProgram p) const {
  bpf_prog_info info;
  std::memset(&info, 0, sizeof info);
  std::uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(bpf_program__fd(program(p)), &info, &len) != 0)
    return fail(ErrorKind::Io, std::string("cannot read the statistics of the ") + program_name(p) +
                                   " program: " + errno_text(errno));
  return ProgramStats{info.run_cnt, info.run_time_ns};
}

Result<std::array<std::uint64_t, GOSCRY_CNT_MAX>> BpfLoader::counters() const {
  return sum_per_cpu<GOSCRY_CNT_MAX>(skel_->maps.counters, "the BPF drop counters");
}

Result<int> BpfLoader::drain(const std::function<void(const goscry_event&)>& on_event) {
  return hand_over(on_event, [this] { return ring_buffer__consume(ring_); });
}

Result<int> BpfLoader::poll(int timeout_ms,
                            const std::function<void(const goscry_event&)>& on_event) {
  return hand_over(on_event, [&] { return ring_buffer__poll(ring_, timeout_ms); });
}

Result<int> BpfLoader::hand_over(const std::function<void(const goscry_event&)>& on_event,
                                 const std::function<int()>& read_ring) {
  on_event_ = on_event;
  handed_ = 0;
  int n = read_ring();
  on_event_ = nullptr;
  if (n == kHandedEnough || n == -EINTR) return int(handed_);
  if (n < 0) return fail(ErrorKind::Io, "cannot read the BPF ring buffer: " + errno_text(n));
  return n;
}

std::vector<MapOccupancy> BpfLoader::map_occupancy() const { return occupancy_of(skel_->obj); }

std::vector<MapOccupancy> CpuSampler::map_occupancy() const { return occupancy_of(skel_->obj); }

static_assert(offsetof(goscry_cpu_sample, ips) == GOSCRY_CPU_SAMPLE_HEADER);

namespace {

// The samples ring for `hz` on `cpus`: 2 s of 1 KiB samples (a 60-frame Go stack under a
// 60-frame kernel one) on every CPU, a power of two (the kernel's rule) in [1, 64] MiB.
// goscry record drains it every 100 ms, the agent every second.
std::uint32_t ring_bytes(int hz, int cpus) {
  const std::uint64_t want = 2ULL * static_cast<std::uint64_t>(hz) * cpus * 1024;
  std::uint64_t bytes = 1 << 20;
  while (bytes < want && bytes < (64ULL << 20)) bytes *= 2;
  return static_cast<std::uint32_t>(bytes);
}

}  // namespace

Result<std::unique_ptr<CpuSampler>> CpuSampler::open(int hz) {
  LibbpfMessages messages;
  std::unique_ptr<CpuSampler> s(new CpuSampler());
  if (auto why = cannot_run(probe_kernel_features())) return std::unexpected(*why);
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return fail(ErrorKind::Io, "cannot count the possible CPUs: " + errno_text(cpus));
  s->skel_ = cpu_bpf::open();
  if (!s->skel_) return fail(ErrorKind::Io, "cpu.bpf.o: cannot open: " + errno_text(errno));
  if (int err = bpf_map__set_max_entries(s->skel_->maps.samples, ring_bytes(hz, cpus)); err != 0)
    return fail(ErrorKind::Io, "cpu.bpf.o: cannot size the samples ring: " + errno_text(err));
  if (int err = cpu_bpf::load(s->skel_); err != 0) {
    if (auto why = missing_privileges()) return fail(ErrorKind::Permission, *why);
    return load_refused("cpu.bpf.o", err, messages.text());
  }
  s->ring_ = ring_buffer__new(bpf_map__fd(s->skel_->maps.samples), on_record, s.get(), nullptr);
  if (!s->ring_)
    return fail(ErrorKind::Io, "cpu.bpf.o: cannot map the samples ring: " + errno_text(errno));
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
      if (auto why = missing_privileges()) return fail(ErrorKind::Permission, *why);
      // EACCES: perf_event_paranoid; ENOENT/EOPNOTSUPP: no cpu-clock event on this kernel.
      const auto kind =
          (err == ENOENT || err == EOPNOTSUPP) ? ErrorKind::Unsupported : kind_of_errno(err);
      return std::unexpected(Error{kind,
                                   "cannot open a cpu-clock perf event on CPU " +
                                       std::to_string(cpu) + ": " + errno_text(err),
                                   err});
    }
    s->event_fds_.push_back(fd);
    bpf_link* link = bpf_program__attach_perf_event(s->skel_->progs.goscry_cpu_sample, fd);
    if (!link)
      return fail(ErrorKind::Io, "cannot attach the CPU sampler to CPU " + std::to_string(cpu) +
                                     ": " + errno_text(errno));
    s->links_.push_back(link);
  }
  if (s->links_.empty())
    return fail(ErrorKind::Unsupported, "no online CPU accepted a cpu-clock perf event");
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
  if (ring_) ring_buffer__free(ring_);
  if (skel_) cpu_bpf::destroy(skel_);
}

Result<void> CpuSampler::add_target(std::uint32_t tgid, const goscry_cpu_target& what) {
  if (bpf_map__update_elem(skel_->maps.cpu_targets, &tgid, sizeof tgid, &what, sizeof what,
                           BPF_ANY) != 0)
    return fail(ErrorKind::Io,
                "pid " + std::to_string(tgid) + ": cannot add the target to the CPU sampler (" +
                    errno_text(errno) + (errno == E2BIG ? ": too many targets)" : ")"));
  targets_[tgid] = what;
  return {};
}

void CpuSampler::remove_target(std::uint32_t tgid) {
  bpf_map__delete_elem(skel_->maps.cpu_targets, &tgid, sizeof tgid, 0);
  targets_.erase(tgid);  // its samples still in the ring keep the frame pointer walk's stack
}

void CpuSampler::forget_stacks(const std::vector<std::int32_t>& ids) {
  for (std::int32_t id : ids) stacks_.forget(id);
}

// A stack's id in the table; a stack of no frame keeps the sampler's reason as its id.
std::int32_t CpuSampler::stack_id(const __u64* pcs, std::uint32_t frames,
                                  std::int32_t error, bool kernel) {
  if (frames == 0) return error < 0 ? error : -ENODATA;
  std::int32_t id = stacks_.intern(std::vector<std::uint64_t>(pcs, pcs + frames));
  if (id < 0) ++(kernel ? kernel_table_full_ : user_table_full_);
  return id;
}

void CpuSampler::count_sample(const goscry_cpu_sample& s) {
  goscry_cpu_key k{};
  k.tgid = s.tgid;
  k.goid = s.goid;
  k.labels = s.labels;
  k.sp_ret = s.sp_ret;
  if (auto t = targets_.find(s.tgid); t != targets_.end() && s.user_frames > 0) {
    auto user = goroutine_user_stack({s.ips, s.user_frames}, s.sched_pc, s.sched_ret, t->second);
    k.user_stack_id = stack_id(user.data(), static_cast<std::uint32_t>(user.size()),
                               user.empty() ? -ENODATA : s.user_error, false);
  } else {
    k.user_stack_id = stack_id(s.ips, s.user_frames, s.user_error, false);
  }
  // No kernel frame and no error: the sample was taken in user mode.
  k.kernel_stack_id = s.kernel_frames == 0 && s.kernel_error == 0
                          ? -ENOENT
                          : stack_id(s.ips + s.user_frames, s.kernel_frames, s.kernel_error, true);
  auto& c = counts_[{k.tgid, k.user_stack_id, k.kernel_stack_id, k.goid, k.labels, k.sp_ret}];
  c.key = k;
  ++c.count;
}

int CpuSampler::on_record(void* self, void* data, std::size_t size) {
  // Records are the program's own: no shorter than the header, frames within the record.
  // Checked all the same; a record cut short keeps the frames it holds.
  if (size < GOSCRY_CPU_SAMPLE_HEADER) return 0;
  goscry_cpu_sample s;
  std::memcpy(&s, data, std::min(size, sizeof s));
  const std::size_t room = (std::min(size, sizeof s) - GOSCRY_CPU_SAMPLE_HEADER) / 8;
  s.user_frames = static_cast<std::uint16_t>(std::min<std::size_t>(s.user_frames, room));
  s.kernel_frames =
      static_cast<std::uint16_t>(std::min<std::size_t>(s.kernel_frames, room - s.user_frames));
  static_cast<CpuSampler*>(self)->count_sample(s);
  return 0;
}

void CpuSampler::read_ring() { ring_buffer__consume(ring_); }

std::vector<CpuCount> CpuSampler::drain_counts() {
  read_ring();
  std::vector<CpuCount> out;
  out.reserve(counts_.size());
  for (auto& [k, c] : counts_) out.push_back(c);
  counts_.clear();
  return out;
}

Result<std::array<std::uint64_t, GOSCRY_CPU_CNT_MAX>> CpuSampler::counters() const {
  auto c = sum_per_cpu<GOSCRY_CPU_CNT_MAX>(skel_->maps.cpu_counters, "the CPU sampler's counters");
  if (c) {
    (*c)[GOSCRY_CPU_USER_TABLE_FULL] += user_table_full_;
    (*c)[GOSCRY_CPU_KERNEL_TABLE_FULL] += kernel_table_full_;
  }
  return c;
}

}  // namespace goscry
