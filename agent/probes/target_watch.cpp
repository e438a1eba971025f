#include "agent/probes/target_watch.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

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

Result<std::unique_ptr<TargetWatch>> TargetWatch::open(int pid, BpfLoader* shared,
                                                       GoroutineTier tier) {
  if (pid <= 0 || !process_alive(pid)) return std::unexpected(why_no_process(pid));
  // Before reading anything of the target: the sentence names every missing capability.
  if (auto why = missing_privileges()) return fail(ErrorKind::Permission, *why);
  // GoProcess::open refuses a Go program with a plugin before any probe is attached.
  auto go = GoProcess::open(pid);
  if (!go) return std::unexpected(go.error());
  return open(std::shared_ptr<const GoProcess>(std::move(*go)), shared, tier);
}

Result<std::unique_ptr<TargetWatch>> TargetWatch::open(std::shared_ptr<const GoProcess> go,
                                                       BpfLoader* shared, GoroutineTier tier) {
  const int pid = go->pid();
  std::unique_ptr<TargetWatch> w(new TargetWatch(std::move(go)));
  if (shared) {
    w->loader_ = shared;
  } else {
    auto loader = BpfLoader::open(w->window_entries());
    if (!loader) return std::unexpected(loader.error());
    w->own_loader_ = std::move(*loader);
    w->loader_ = w->own_loader_.get();
  }
  // Watch: what gcount() reads is found before any probe, so a target it fails on is
  // refused whole rather than left with probes and no goroutine count.
  if (tier == GoroutineTier::kWatch)
    if (auto r = w->locate_counter(); !r) return context(r.error(), "pid " + std::to_string(pid));
  auto a = Attachment::attach(*w->loader_, w->go_->binary(), w->go_->layout(), w->go_->bias(),
                              pid, w->go_version(), 0, tier);
  if (!a) {
    if (!process_alive(pid))
      return fail(ErrorKind::TargetGone, "process " + std::to_string(pid) + " exited");
    return std::unexpected(a.error());
  }
  w->attachment_ = std::move(*a);
  if (tier == GoroutineTier::kWatch) {
    if (auto r = w->update_sites(); !r) return std::unexpected(r.error());
    return w;
  }
  // After the probes: the window closes, then a goroutine born meanwhile is in the snapshot
  // and in the window map, which says so (GoroutineTracker has the whole argument).
  auto closed = w->close_window();
  auto snapped = closed ? w->snapshot() : closed;
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

Result<void> TargetWatch::locate_counter() {
  auto counter = GoroutineCounter::locate(go_->binary(), go_->layout(), go_->bias());
  if (!counter) return std::unexpected(counter.error());
  counter_ = *counter;
  return {};
}

Result<void> TargetWatch::close_window() {
  const ElfFile& elf = go_->binary().elf();
  auto newproc1 = go_->binary().find_function("runtime.newproc1");
  if (!newproc1)
    return fail(ErrorKind::Unsupported, elf.path() + ": no runtime.newproc1 in the pclntab");
  auto goidgen = find_goid_generator(elf, CodeRange{newproc1->entry, newproc1->end});
  if (!goidgen) return std::unexpected(goidgen.error());
  // Read after every probe went in: a goroutine born before them has a goid up to it.
  auto g0 = go_->process().read_u64(*goidgen + go_->bias());
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

std::uint32_t TargetWatch::window_entries() const {
  // The goroutines alive when the probes go in, not now: a program that spawns fast while
  // a starved goscry attaches (the saturated-machine test: 173,838 at nice 19 in CI) has
  // many more by then. So a floor of 262,144 (28 MiB of kernel memory, for the life of
  // one verb), 1.5 x allglen now above it, and a ceiling of 2^20 (~100 MiB) past which the
  // excess is counted as lost.
  constexpr std::uint64_t kFloor = 1u << 18, kCeiling = 1u << 20;
  auto allglen = go_->process().read_u64(go_->allglen_addr());
  const std::uint64_t n = allglen ? *allglen + *allglen / 2 : 0;
  return std::uint32_t(std::clamp<std::uint64_t>(n, kFloor, kCeiling));
}

Result<void> TargetWatch::snapshot() {
  auto snap = read_goroutine_snapshot(*go_);
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
  if (counter_) {
    auto n = counter_->read(go_->process());
    if (!n) return context(n.error(), "pid " + std::to_string(pid_));
    live_ = *n;
    counted_at_ns_ = now;
    return {};
  }
  read_window();
  auto counts = loader_->site_counts(std::uint32_t(pid_));
  if (!counts) return std::unexpected(counts.error());
  counted_at_ns_ = now;
  goroutines_.update(*counts, now);
  last_counts_ = goroutines_.born_counts();
  return {};
}

Result<GcPacer> TargetWatch::gc_pacer() const {
  const std::uint64_t addr = attachment_ ? attachment_->settings().gc_controller_addr : 0;
  auto p = read_gc_pacer(go_->process(), go_->layout(), addr, go_->binary().go_minor());
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
