#include "agent/probes/attacher.h"

#include <elf.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>

#include "symbolizer/proc_maps.h"
#include "symbolizer/runtime_globals.h"
#include "symbolizer/runtime_layout.h"
#include "symbolizer/emulated_probes.h"
#include "symbolizer/ret_finder.h"

namespace goscry {

namespace {

// Function bounds come from the .gopclntab, which stripped binaries keep.
Result<FuncBounds> find_function(const GoBinary& sym, std::string_view name) {
  auto f = sym.find_function(name);
  if (!f)
    return fail(ErrorKind::Unsupported, sym.elf().path() + ": no function " + std::string(name));
  return *f;
}

// Builds the uprobes of one function: at its entry, or at each of its RETs.
class PlanBuilder {
 public:
  PlanBuilder(const GoBinary& sym, const std::string& binary, int pid, ProbePlan& plan)
      : sym_(sym), elf_(sym.elf()), binary_(binary), pid_(pid), plan_(plan) {}

  Result<void> at_entry(std::string_view function, RuntimeProgram program) {
    auto f = find_function(sym_, function);
    if (!f) return std::unexpected(f.error());
    return add(program, f->entry, function);
  }

  // Where a stack-checking Go function's Jcc is (emulated by the kernel, arguments still in
  // their registers), else its entry (symbolizer/emulated_probes.h).
  Result<void> at_stack_check(std::string_view function, RuntimeProgram program) {
    auto f = find_function(sym_, function);
    if (!f) return std::unexpected(f.error());
    auto code = elf_.read_vaddr(f->entry, f->end - f->entry);
    if (!code) return context(code.error(), elf_.path() + ": " + std::string(function));
    auto jcc = stack_check_branch(sym_.isa(), code->bytes(), f->entry);
    return add(program, jcc.value_or(f->entry), function);
  }

  // The new g after every CALL of runtime.newproc1, at the cheapest instruction that still
  // has it in a register (the cookie tells the program which); the RETs of newproc1 when
  // some call site has no such place.
  Result<void> at_newproc1_results(RuntimeProgram program) {
    auto f = find_function(sym_, "runtime.newproc1");
    if (!f) return std::unexpected(f.error());
    auto sites = handoff_sites(f->entry);
    if (!sites) return at_rets("runtime.newproc1", program);
    for (const auto& p : *sites)
      if (auto r = add(program, p.vaddr, "runtime.newproc1 (caller)", static_cast<std::uint64_t>(p.reg)); !r)
        return r;
    return {};
  }

  Result<void> at_rets(std::string_view function, RuntimeProgram program) {
    auto f = find_function(sym_, function);
    if (!f) return std::unexpected(f.error());
    auto code = decode_function(elf_, f->entry, f->end, std::string(function));
    if (!code) return std::unexpected(code.error());
    if (code->rets.empty())
      return fail(ErrorKind::Unsupported,
                  elf_.path() + ": " + std::string(function) + " has no RET");
    for (auto off : code->rets)
      if (auto r = add(program, f->entry + off, function); !r) return r;
    return {};
  }

 private:
  Result<void> add(RuntimeProgram program, std::uint64_t vaddr, std::string_view function,
                   std::uint64_t cookie = 0) {
    auto off = elf_.vaddr_to_offset(vaddr);
    if (!off)
      return fail(ErrorKind::Unsupported, elf_.path() + ": " + std::string(function) + " at " +
                                              to_hex(vaddr) + " is in no loadable segment");
    plan_.uprobes.push_back({program, binary_, *off, pid_, cookie, vaddr});
    return {};
  }

  // One probe per call site of newproc1; nullopt when there is none or one has no usable
  // place (then the RETs, which are always right, serve every call).
  std::optional<std::vector<ValueProbe>> handoff_sites(std::uint64_t newproc1) {
    // result_after_call follows amd64's registers only (docs/go-runtime.md "arm64"); the
    // RETs of newproc1 hold newg in R0, cookie 0, as RAX is on amd64.
    if (sym_.isa() != Isa::X86_64) return std::nullopt;
    auto calls = runtime_calls_to(sym_, newproc1);
    if (!calls || calls->empty()) return std::nullopt;
    std::vector<ValueProbe> out;
    for (auto call : *calls) {
      auto caller = sym_.function_at(call);
      if (!caller) return std::nullopt;
      auto code = elf_.read_vaddr(caller->entry, caller->end - caller->entry);
      if (!code) return std::nullopt;
      auto probe = result_after_call(code->bytes(), caller->entry, call);
      if (!probe) return std::nullopt;
      out.push_back(*probe);
    }
    return out;
  }

  const GoBinary& sym_;
  const ElfFile& elf_;
  const std::string& binary_;
  int pid_;
  ProbePlan& plan_;
};

// Offsets in the settings are u16: runtime.g and runtime.m are a few hundred bytes.
Result<std::uint16_t> offset16(int offset, const char* field) {
  if (offset < 0 || offset >= GOSCRY_NO_OFFSET)
    return fail(ErrorKind::Unsupported,
                std::string("runtime layout: no usable offset for ") + field);
  return static_cast<std::uint16_t>(offset);
}

Result<goscry_settings> settings_for(const RuntimeLayout& l, int minor) {
  goscry_settings s{};
  auto goid = offset16(l.g_goid, "g.goid");
  auto gopc = offset16(l.g_gopc, "g.gopc");
  auto startpc = offset16(l.g_startpc, "g.startpc");
  auto g_m = offset16(l.g_m, "g.m");
  auto preemptoff = offset16(l.m_preemptoff, "m.preemptoff");
  for (const auto* r : {&goid, &gopc, &startpc, &g_m, &preemptoff})
    if (!*r) return std::unexpected(r->error());
  s.g_goid = *goid;
  s.g_gopc = *gopc;
  s.g_startpc = *startpc;
  // The per-goroutine probes read goid..startpc at once: one read costs less than three.
  const int lo = std::min({l.g_goid, l.g_gopc, l.g_startpc});
  const int hi = std::max({l.g_goid, l.g_gopc, l.g_startpc}) + 8;
  if ((l.g_goid | l.g_gopc | l.g_startpc) % 8 != 0 || hi - lo > GOSCRY_G_BLOCK_WORDS * 8)
    return fail(ErrorKind::Unsupported, "runtime layout: g.goid, g.gopc and g.startpc span " +
                                            std::to_string(hi - lo) + " bytes, not the " +
                                            std::to_string(GOSCRY_G_BLOCK_WORDS * 8) +
                                            " aligned ones goscry reads at once");
  s.g_block_off = static_cast<std::uint16_t>(lo);
  s.g_block_words = static_cast<std::uint8_t>((hi - lo) / 8);
  // Every goroutine goes into the window map until the agent knows which ones were alive
  // before the probes (Attachment::close_window).
  s.event_goid_max = ~std::uint64_t(0);
  s.g_m = *g_m;
  s.m_preemptoff = *preemptoff;
  // parentGoid exists from 1.21 on.
  s.g_parent_goid = l.g_parent_goid >= 0 ? *offset16(l.g_parent_goid, "g.parentGoid")
                                         : GOSCRY_NO_OFFSET;
  s.go_minor = static_cast<std::uint16_t>(minor);
  s.stw_abi = minor <= 20   ? GOSCRY_STW_PREEMPTOFF
              : minor == 21 ? GOSCRY_STW_REASON_ARG
                            : GOSCRY_STW_WORLDSTOP;
  // Go <= 1.21 time GC pauses by work.pauseStart / work.tEnd (runtime.bpf.c); 1.22+ pass
  // the clock to startTheWorldWithSema and have no pauseStart.
  if (minor <= 21 && l.work_pause_start > 0 && l.work_t_end > 0 &&
      l.work_pause_start < GOSCRY_NO_OFFSET && l.work_t_end < GOSCRY_NO_OFFSET) {
    s.work_pause_start = static_cast<std::uint16_t>(l.work_pause_start);
    s.work_t_end = static_cast<std::uint16_t>(l.work_t_end);
  }
  if (l.work_cycles > 0 && l.work_cycles < GOSCRY_NO_OFFSET)
    s.work_cycles = static_cast<std::uint16_t>(l.work_cycles);
  s.probes = GOSCRY_PROBE_CREATE | GOSCRY_PROBE_EXIT | GOSCRY_PROBE_STW |
             GOSCRY_PROBE_GC_MARK_TERM | GOSCRY_PROBE_GC_START;
  // Why a cycle ran and what it cost (docs/go-runtime.md "Why a GC cycle ran"): an
  // offset the layout lacks leaves its figure unread, flagged as such in the event.
  auto gc_offset = [](int off) {
    return off >= 0 && off < GOSCRY_NO_OFFSET ? static_cast<std::uint16_t>(off) : GOSCRY_NO_OFFSET;
  };
  s.m_curg = gc_offset(l.m_curg);
  s.work_heap0 = gc_offset(l.work_heap0);
  s.gcc_heap_marked = gc_offset(l.gcc_heap_marked);
  s.gcc_last_heap_goal = gc_offset(l.gcc_last_heap_goal);
  s.gcc_gc_percent = gc_offset(l.gcc_gc_percent);
  s.gcc_memory_limit = gc_offset(l.gcc_memory_limit);
  s.gcc_assist_time = gc_offset(l.gcc_assist_time);
  s.gcc_dedicated_mark_time = gc_offset(l.gcc_dedicated_mark_time);
  s.gcc_fractional_mark_time = gc_offset(l.gcc_fractional_mark_time);
  s.gcc_idle_mark_time = gc_offset(l.gcc_idle_mark_time);
  return s;
}

}  // namespace

const char* tier_name(GoroutineTier t) { return t == GoroutineTier::kWatch ? "watch" : "trace"; }

namespace {

// The minor version, for the releases goscry knows.
Result<int> check_supported(std::string_view go_version) {
  auto minor = go_minor_version(go_version);
  if (!minor) return std::unexpected(minor.error());
  if (*minor < 19 || *minor > 27)
    return fail(ErrorKind::Unsupported,
                std::string(go_version) + ": unsupported Go version (goscry knows 1.19-1.27)");
  return *minor;
}

}  // namespace

Result<ProbePlan> plan_probes(const GoBinary& sym, const std::string& binary_path, int pid,
                              std::string_view go_version, GoroutineTier tier) {
  if (auto r = check_supported(go_version); !r) return std::unexpected(r.error());
  auto layout = runtime_layout(sym.elf(), go_version);
  if (!layout) return context(layout.error(), sym.elf().path());
  return plan_probes(sym, *layout, binary_path, pid, go_version, tier);
}

Result<ProbePlan> plan_probes(const GoBinary& sym, const RuntimeLayout& layout,
                              const std::string& binary_path, int pid,
                              std::string_view go_version, GoroutineTier tier) {
  const ElfFile& elf = sym.elf();
  auto minor = check_supported(go_version);
  if (!minor) return std::unexpected(minor.error());
  auto settings = settings_for(layout, *minor);
  if (!settings) return context(settings.error(), elf.path());
  ProbePlan plan;
  plan.settings = *settings;
  // runtime.work: the GC cycle count (work.cycles) in every release, and the clock of GC
  // pauses on <= 1.21. Without it the cycles go unnumbered (runtime.bpf.c) and the probes
  // time <= 1.21's GC pauses themselves: a few us short of the runtime's figure per pause.
  std::optional<CodeRange> gmt;
  if (auto f = sym.find_function("runtime.gcMarkTermination")) gmt = CodeRange{f->entry, f->end};
  if (auto work = find_runtime_work(elf, gmt, layout.work_pause_ns, layout.work_t_end)) {
    plan.settings.work_addr = *work;
  } else {
    plan.settings.work_pause_start = 0;
    plan.settings.work_cycles = 0;
  }
  // runtime.gcController: the pacer's figures of each cycle; without it they stay unread.
  std::optional<CodeRange> gcc_commit;
  std::uint64_t commit_entry = 0;
  if (auto f = sym.find_function("runtime.gcControllerCommit")) gcc_commit = CodeRange{f->entry, f->end};
  if (auto f = sym.find_function("runtime.(*gcControllerState).commit")) commit_entry = f->entry;
  if (auto c = find_gc_controller(elf, gcc_commit, commit_entry)) plan.settings.gc_controller_addr = *c;
  PlanBuilder b(sym, binary_path, pid, plan);
  using P = RuntimeProgram;
  // docs/go-runtime.md "Where the probes sit": exit, creation, then the STW convention of
  // the release. Exit first: attached in this order, no goroutine is seen created whose end
  // the probes miss.
  const bool worldstop = *minor >= 22;
  if (tier == GoroutineTier::kTrace) {
    for (auto r : {b.at_stack_check(worldstop ? "runtime.gdestroy" : "runtime.goexit0",
                                    P::GoroutineExit),
                   b.at_newproc1_results(P::NewprocRet)})
      if (!r) return std::unexpected(r.error());
  } else {
    plan.settings.probes &= ~std::uint32_t(GOSCRY_PROBE_CREATE | GOSCRY_PROBE_EXIT);
  }
  // gcStart before the stops: the sweep-termination stop takes the trigger it recorded.
  for (auto r : {b.at_stack_check("runtime.gcStart", P::GcStart),
                 worldstop ? b.at_rets("runtime.stopTheWorldWithSema", P::StwStopRet)
                           : b.at_entry("runtime.stopTheWorldWithSema", P::StwStopEntry),
                 b.at_entry("runtime.gcMarkTermination", P::GcMarkTermination),
                 b.at_rets("runtime.startTheWorldWithSema", P::StwStartRet)})
    if (!r) return std::unexpected(r.error());
  auto last = worldstop ? b.at_entry("runtime.startTheWorldWithSema", P::StwStartEntry)
                        : b.at_rets("runtime.gcControllerCommit", P::GcPauseEnd);
  if (!last) return std::unexpected(last.error());
  return plan;
}

Result<std::unique_ptr<Attachment>> Attachment::attach(BpfLoader& loader, int pid,
                                                       std::string_view go_version,
                                                       std::uint32_t flags) {
  const std::string exe = "/proc/" + std::to_string(pid) + "/exe";
  auto elf = ElfFile::open(exe);
  if (!elf) return context(elf.error(), "pid " + std::to_string(pid));
  if (auto arch = check_architecture(**elf); !arch)
    return context(arch.error(), "pid " + std::to_string(pid));
  auto sym = GoBinary::from_elf(*elf);
  if (!sym) return context(sym.error(), "pid " + std::to_string(pid));
  return attach(loader, **sym, pid, go_version, flags);
}

Result<std::unique_ptr<Attachment>> Attachment::attach(BpfLoader& loader, const GoBinary& sym,
                                                       int pid, std::string_view go_version,
                                                       std::uint32_t flags, GoroutineTier tier) {
  auto plan = plan_probes(sym, "/proc/" + std::to_string(pid) + "/exe", pid, go_version, tier);
  if (!plan) return std::unexpected(plan.error());
  auto bias = load_bias(pid, sym.elf());
  if (!bias) return std::unexpected(bias.error());
  return attach_plan(loader, pid, std::move(*plan), *bias, flags);
}

Result<std::unique_ptr<Attachment>> Attachment::attach(BpfLoader& loader, const GoBinary& sym,
                                                       const RuntimeLayout& layout,
                                                       std::uint64_t bias, int pid,
                                                       std::string_view go_version,
                                                       std::uint32_t flags, GoroutineTier tier) {
  auto plan = plan_probes(sym, layout, "/proc/" + std::to_string(pid) + "/exe", pid, go_version,
                          tier);
  if (!plan) return std::unexpected(plan.error());
  return attach_plan(loader, pid, std::move(*plan), bias, flags);
}

Result<std::unique_ptr<Attachment>> Attachment::attach_plan(BpfLoader& loader, int pid,
                                                            ProbePlan plan, std::uint64_t bias,
                                                            std::uint32_t flags) {
  plan.settings.flags = flags;
  if (plan.settings.work_addr) plan.settings.work_addr += bias;
  if (plan.settings.gc_controller_addr) plan.settings.gc_controller_addr += bias;
  for (auto& req : plan.uprobes) req.address += bias;
  std::unique_ptr<Attachment> a(new Attachment(loader, pid));
  a->settings_ = plan.settings;
  // Settings first: a probe that fires before them would count SETTINGS_MISSING.
  if (auto r = loader.add_target(static_cast<std::uint32_t>(pid), plan.settings); !r)
    return std::unexpected(r.error());
  for (const auto& req : plan.uprobes) {
    auto link = loader.attach_uprobe(req);
    if (!link) return std::unexpected(link.error());  // ~Attachment undoes the rest
    a->links_.push_back(std::move(*link));
  }
  return a;
}

Result<void> Attachment::set_event_goid_max(std::uint64_t goid) {
  settings_.event_goid_max = goid;
  return loader_.add_target(static_cast<std::uint32_t>(pid_), settings_);
}

Result<void> Attachment::close_window(std::uint64_t goid_generator) {
  settings_.event_goid_max = goid_generator;
  settings_.flags |= GOSCRY_WINDOW_CLOSED;
  return loader_.add_target(static_cast<std::uint32_t>(pid_), settings_);
}

Attachment::~Attachment() {
  links_.clear();
  loader_.remove_target(static_cast<std::uint32_t>(pid_));
}

}  // namespace goscry
