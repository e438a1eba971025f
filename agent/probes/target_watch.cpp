#include "agent/probes/target_watch.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

#include <fstream>

#include "agent/goruntime/go_plugins.h"
#include "agent/goruntime/goroutine_snapshot.h"
#include "agent/proc/privileges.h"
#include "symbolizer/proc_file.h"
#include "symbolizer/runtime_globals.h"
#include "symbolizer/runtime_layout.h"

namespace goscry {

namespace {

// Returns once every BPF program that started before the call has ended: they run under
// rcu_read_lock, and MEMBARRIER_CMD_GLOBAL is synchronize_rcu(). False where it is not
// available (nohz_full kernels).
bool wait_for_running_programs() {
  return syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0;
}

bool runtime_function(const std::string& name) {
  return name.starts_with("runtime.") || name.starts_with("runtime/debug.");
}

}  // namespace

GcCauseResolver gc_cause_resolver(std::shared_ptr<const GoBinary> sym, std::uint64_t bias) {
  return [sym = std::move(sym), bias](const goscry_gc_info& info) {
    GcCause c = gc_cause_of(info);
    if (c.trigger != GcTrigger::kRuntimeGC) return c;
    // caller_pcs[0] returns into runtime.GC, [1] into its caller: the program, or
    // debug.FreeOSMemory's half in the runtime (runtime/debug.freeOSMemory), whose caller
    // is then the program. A return address minus one is inside its CALL.
    for (int i = 1; i < GOSCRY_GC_CALLER_PCS; ++i) {
      const std::uint64_t pc = info.caller_pcs[i];
      if (pc <= bias + 1) break;
      const auto frames = sym->frames(pc - bias - 1);  // innermost first, inlined included
      if (frames.empty()) break;
      for (const auto& f : frames) {
        if (f.function.starts_with("runtime/debug.") && f.function.ends_with("reeOSMemory"))
          c.trigger = GcTrigger::kFreeOSMemory;
        if (!runtime_function(f.function)) {
          c.caller = f.function;
          return c;
        }
      }
    }
    return c;
  };
}

Result<std::unique_ptr<TargetWatch>> TargetWatch::open(int pid, BpfLoader* shared) {
  const std::string who = "pid " + std::to_string(pid);
  if (pid <= 0 || !process_alive(pid)) return std::unexpected(why_no_process(pid));
  // Before reading anything of the target: the sentence names every missing capability.
  if (auto why = missing_privileges()) return fail(ErrorKind::Permission, *why);
  auto process = Process::attach_readonly(pid);
  if (!process) return std::unexpected(process.error());
  const std::string exe = (*process)->exe_path();
  auto elf = ElfFile::open((*process)->exe_host_path());
  if (!elf) return context(elf.error(), who + " (" + exe + ")");
  if (auto arch = check_architecture(**elf); !arch) return context(arch.error(), who);
  auto sym = GoBinary::from_elf(*elf);
  // As GoProcess::open says it: the error names the file read (the host path of the exe).
  if (!sym) return context(sym.error(), who);
  if ((*sym)->go_version().empty())
    return fail(ErrorKind::Unsupported,
                who + " (" + exe + "): no .go.buildinfo, so no Go version to probe by");
  // Before any probe: nothing is attached to a target that is refused.
  if (auto r = refuse_go_plugins(pid); !r) return std::unexpected(r.error());
  auto bias = load_bias(pid, **elf);
  if (!bias) return context(bias.error(), who);
  std::unique_ptr<TargetWatch> w(new TargetWatch(pid, *sym, *bias));
  w->exe_ = exe;
  w->process_ = std::move(*process);
  if (shared) {
    w->loader_ = shared;
  } else {
    auto loader = BpfLoader::open(w->window_entries(*bias));
    if (!loader) return std::unexpected(loader.error());
    w->own_loader_ = std::move(*loader);
    w->loader_ = w->own_loader_.get();
  }
  auto a = Attachment::attach(*w->loader_, **sym, pid, (*sym)->go_version());
  if (!a) {
    if (!process_alive(pid))
      return fail(ErrorKind::TargetGone, "process " + std::to_string(pid) + " exited");
    return std::unexpected(a.error());
  }
  w->attachment_ = std::move(*a);
  // After the probes: the window closes, then a goroutine born meanwhile is in the snapshot
  // and in the window map, which says so (GoroutineTracker has the whole argument).
  auto closed = w->close_window(*bias);
  auto snapped = closed ? w->snapshot(*bias) : closed;
  if (!snapped) {
    if (!process_alive(pid))
      return fail(ErrorKind::TargetGone, "process " + std::to_string(pid) + " exited");
    return std::unexpected(snapped.error());
  }
  // The sites only: STW events stay in the ring buffer for the caller's first poll(), so a
  // cycle that completed while this ran is shown, not only counted (`gc` printed no line
  // for the cycle running at attach while its summary counted it).
  if (auto r = w->update_sites(); !r) return std::unexpected(r.error());
  return w;
}

TargetWatch::~TargetWatch() {
  attachment_.reset();  // probes and map entries go before the loader
  own_loader_.reset();
}

Result<void> TargetWatch::close_window(std::uint64_t bias) {
  const ElfFile& elf = symbols_->elf();
  auto newproc1 = symbols_->find_function("runtime.newproc1");
  if (!newproc1)
    return fail(ErrorKind::Unsupported, elf.path() + ": no runtime.newproc1 in the pclntab");
  auto goidgen = find_goid_generator(elf, CodeRange{newproc1->entry, newproc1->end});
  if (!goidgen) return std::unexpected(goidgen.error());
  // Read after every probe went in: a goroutine born before them has a goid up to it.
  auto g0 = process_->read_u64(*goidgen + bias);
  if (!g0) return context(g0.error(), "pid " + std::to_string(pid_) + ": runtime.sched.goidgen");
  goid_generator_ = *g0;
  if (auto r = attachment_->close_window(goid_generator_); !r) return r;
  // A probe that still runs under the open window could drop an entry the snapshot needs;
  // without the wait the figures are flagged (lost()).
  window_synced_ = wait_for_running_programs();
  loader_->forget_window_threads(std::uint32_t(pid_));
  // Final now: only the open window adds to them.
  for (const auto& [startpc, n] : loader_->window_unseen_ends(std::uint32_t(pid_)))
    goroutines_.ended_unseen(startpc, n);
  return {};
}

Result<AllgAddresses> TargetWatch::allg_addresses(std::uint64_t bias) const {
  std::optional<CodeRange> fegr;
  if (auto f = symbols_->find_function("runtime.forEachGRace")) fegr = CodeRange{f->entry, f->end};
  auto allg = find_allg(symbols_->elf(), fegr);
  if (!allg) return std::unexpected(allg.error());
  allg->allglen += bias;
  allg->allgptr += bias;
  return allg;
}

std::uint32_t TargetWatch::window_entries(std::uint64_t bias) const {
  // The goroutines alive when the probes go in, not now: a program that spawns fast while
  // a starved goscry attaches (the saturated-machine test: 173,838 at nice 19 in CI) has
  // many more by then. So a floor of 262,144 (28 MiB of kernel memory, for the life of
  // one verb), 1.5 x allglen now above it, and a ceiling of 2^20 (~100 MiB) past which the
  // excess is counted as lost.
  constexpr std::uint64_t kFloor = 1u << 18, kCeiling = 1u << 20;
  auto allg = allg_addresses(bias);
  auto allglen = allg ? process_->read_u64(allg->allglen) : Result<std::uint64_t>(0);
  const std::uint64_t n = allglen ? *allglen + *allglen / 2 : 0;
  return std::uint32_t(std::clamp<std::uint64_t>(n, kFloor, kCeiling));
}

Result<void> TargetWatch::snapshot(std::uint64_t bias) {
  const ElfFile& elf = symbols_->elf();
  auto layout = runtime_layout(elf, symbols_->go_version());
  if (!layout) return context(layout.error(), elf.path());
  layout_ = *layout;
  auto allg = allg_addresses(bias);
  if (!allg) return std::unexpected(allg.error());
  auto snap = read_goroutines(*process_, *allg, *layout);
  if (!snap) return std::unexpected(snap.error());
  // A goid above the generator read after the probes was handed out after them: the probes
  // saw that goroutine born, and `created` counts it.
  std::erase_if(snap->alive, [this](const auto& g) { return g.goid > goid_generator_; });
  goroutines_.set_snapshot(*snap);
  return {};
}

void TargetWatch::read_window() {
  const auto tgid = std::uint32_t(pid_);
  std::vector<std::uint64_t> done;
  for (const auto& w : loader_->window_entries(tgid)) {
    // Born while the window was open with a goid the snapshot left out: nothing to say.
    if (w.goid > goid_generator_) {
      done.push_back(w.goid);
      continue;
    }
    goscry_event e{};
    e.tgid = tgid;
    e.goid = w.goid;
    e.gopc = w.seen.gopc;
    e.startpc = w.seen.startpc;
    e.parent_goid = w.seen.parent_goid;
    if ((w.seen.flags & GOSCRY_WIN_CREATED) && window_born_.insert(w.goid).second) {
      e.kind = GOSCRY_EV_GO_CREATE;
      e.flags = (w.seen.flags & GOSCRY_WIN_COUNTED) ? GOSCRY_GO_COUNTED : 0;
      goroutines_.on_event(e);
    }
    if (!(w.seen.flags & GOSCRY_WIN_EXITED)) continue;  // read again at its end
    e.kind = GOSCRY_EV_GO_EXIT;
    e.flags = (w.seen.flags & GOSCRY_WIN_EXIT_COUNTED) ? GOSCRY_GO_COUNTED : 0;
    goroutines_.on_event(e);
    window_born_.erase(w.goid);
    done.push_back(w.goid);
  }
  loader_->forget_window_entries(tgid, done);
}

Result<void> TargetWatch::poll(int timeout_ms, const std::function<void(const GcUpdate&)>& on_gc) {
  const auto tgid = std::uint32_t(pid_);
  auto n = loader_->poll(timeout_ms, [&](const goscry_event& e) {
    if (e.tgid != tgid) return;
    GcUpdate u = feed(e);
    if (on_gc && (u.cycle || u.other)) on_gc(u);
  });
  if (!n) return std::unexpected(n.error());
  return {};
}

GcUpdate TargetWatch::feed(const goscry_event& e) {
  if (e.kind == GOSCRY_EV_STW) return gc_.add(e);
  goroutines_.on_event(e);
  return {};
}

Result<void> TargetWatch::refresh() {
  // STW events first; the window map is read by update_sites().
  if (auto r = poll(0); !r) return r;
  return update_sites();
}

Result<void> TargetWatch::update_sites() {
  // Before the reads: what the target did before this instant is in them, however late
  // this thread runs on (a time taken after could be ahead of the figures).
  const std::uint64_t now = monotonic_ns();
  read_window();
  auto counts = loader_->site_counts(std::uint32_t(pid_));
  if (!counts) return std::unexpected(counts.error());
  counted_at_ns_ = now;
  goroutines_.update(*counts, now);
  last_counts_ = goroutines_.born_counts();
  return {};
}

Result<GcPacer> TargetWatch::gc_pacer() const {
  if (!layout_) return fail(ErrorKind::Unsupported, "pid " + std::to_string(pid_) + ": no runtime layout");
  const std::uint64_t addr = attachment_ ? attachment_->settings().gc_controller_addr : 0;
  auto p = read_gc_pacer(*process_, *layout_, addr, symbols_->go_minor());
  if (!p) return context(p.error(), "pid " + std::to_string(pid_));
  return p;
}

std::uint64_t TargetWatch::lost() const {
  return events_lost(*loader_) + (window_synced_ ? 0 : 1);
}

std::uint64_t events_lost(const BpfLoader& loader) {
  auto c = loader.counters();
  if (!c) return 0;
  return (*c)[GOSCRY_CNT_RINGBUF_FULL] + (*c)[GOSCRY_CNT_READ_FAILED] +
         (*c)[GOSCRY_CNT_SITE_MAP_FULL] + (*c)[GOSCRY_CNT_STW_MAP_FULL] +
         (*c)[GOSCRY_CNT_PROBE_REG_MISSING] + (*c)[GOSCRY_CNT_WINDOW_FULL];
}

}  // namespace goscry
