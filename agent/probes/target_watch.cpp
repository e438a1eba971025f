#include "agent/probes/target_watch.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

#include <fstream>

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

}  // namespace

Result<std::unique_ptr<TargetWatch>> TargetWatch::open(int pid, BpfLoader* shared) {
  const std::string who = "pid " + std::to_string(pid);
  if (pid <= 0 || !process_alive(pid)) return fail(why_no_process(pid));
  // Before reading anything of the target: the sentence names every missing capability.
  if (auto why = missing_privileges()) return fail(*why);
  auto process = Process::attach_readonly(pid);
  if (!process) return std::unexpected(process.error());
  const std::string exe = (*process)->exe_path();
  auto elf = ElfFile::open((*process)->exe_host_path());
  if (!elf) return fail(who + " (" + exe + "): " + elf.error().message);
  auto sym = GoBinary::from_elf(*elf);
  if (!sym) {
    std::string why = sym.error().message;
    why = why.substr(why.find(": ") + 2);  // the path we opened: the exe is named instead
    return fail(who + " (" + exe + "): " + why);
  }
  if ((*sym)->go_version().empty())
    return fail(who + " (" + exe + "): no .go.buildinfo, so no Go version to probe by");
  auto bias = load_bias(pid, **elf);
  if (!bias) return fail(who + ": " + bias.error().message);
  std::unique_ptr<TargetWatch> w(new TargetWatch(pid, *sym, *bias));
  w->exe_ = exe;
  w->process_ = std::move(*process);
  if (shared) {
    w->loader_ = shared;
  } else {
    auto loader = BpfLoader::open();
    if (!loader) return std::unexpected(loader.error());
    w->own_loader_ = std::move(*loader);
    w->loader_ = w->own_loader_.get();
  }
  auto a = Attachment::attach(*w->loader_, **sym, pid, (*sym)->go_version());
  if (!a) {
    if (!process_alive(pid)) return fail("process " + std::to_string(pid) + " exited");
    return std::unexpected(a.error());
  }
  w->attachment_ = std::move(*a);
  // After the probes: a goroutine born meanwhile is in both, and its creation event says
  // so (GoroutineTracker has the whole argument).
  if (auto r = w->snapshot(*bias); !r) {
    if (!process_alive(pid)) return fail("process " + std::to_string(pid) + " exited");
    return std::unexpected(r.error());
  }
  if (auto r = shared ? w->update_sites() : w->refresh(); !r) return std::unexpected(r.error());
  // From the next read of the counters on (after a drain of the ring buffer, which the
  // caller does first), the goroutines seen created above T can be forgotten.
  w->forget_ready_ = true;
  return w;
}

TargetWatch::~TargetWatch() {
  attachment_.reset();  // probes and map entries go before the loader
  own_loader_.reset();
}

Result<void> TargetWatch::snapshot(std::uint64_t bias) {
  const ElfFile& elf = symbols_->elf();
  auto layout = runtime_layout(elf, symbols_->go_version());
  if (!layout) return fail(elf.path() + ": " + layout.error().message);
  std::optional<CodeRange> fegr;
  if (auto f = symbols_->find_function("runtime.forEachGRace")) fegr = CodeRange{f->entry, f->end};
  auto allg = find_allg(elf, fegr);
  if (!allg) return std::unexpected(allg.error());
  allg->allglen += bias;
  allg->allgptr += bias;
  auto snap = read_goroutines(*process_, *allg, *layout);
  if (!snap) return std::unexpected(snap.error());
  // Every goroutine alive before the probes is in the snapshot with a goid up to its
  // largest: only those (and the few made later from goids the Ps had cached) still need
  // events. T only ever falls.
  std::uint64_t t = 0;
  for (const auto& g : snap->alive) t = std::max(t, g.goid);
  if (auto r = attachment_->set_event_goid_max(t); !r) return r;
  // Events sent under the old T are all in the ring buffer after this; once they are
  // drained, R can drop what the counters now cover.
  if (wait_for_running_programs()) forget_above_ = t;
  goroutines_.set_snapshot(*snap);
  return {};
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
  // Events first: an exit event must not be missing from the counts read after it.
  if (auto r = poll(0); !r) return r;
  return update_sites();
}

Result<void> TargetWatch::update_sites() {
  auto counts = loader_->site_counts(std::uint32_t(pid_));
  if (!counts) return std::unexpected(counts.error());
  if (forget_ready_ && forget_above_) {
    goroutines_.forget_born_above(*forget_above_);
    forget_above_.reset();
  }
  goroutines_.update(*counts, monotonic_ns());
  last_counts_ = goroutines_.born_counts();
  return {};
}

std::uint64_t TargetWatch::lost() const { return events_lost(*loader_); }

std::uint64_t events_lost(const BpfLoader& loader) {
  auto c = loader.counters();
  if (!c) return 0;
  return (*c)[GOSCRY_CNT_RINGBUF_FULL] + (*c)[GOSCRY_CNT_READ_FAILED] +
         (*c)[GOSCRY_CNT_SITE_MAP_FULL] + (*c)[GOSCRY_CNT_STW_MAP_FULL] +
         (*c)[GOSCRY_CNT_PROBE_REG_MISSING];
}

}  // namespace goscry
