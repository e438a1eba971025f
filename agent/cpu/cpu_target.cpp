#include "agent/cpu/cpu_target.h"

#include <elf.h>

namespace goscry {

std::optional<std::int64_t> go_tls_g_offset(const ElfFile& elf, Isa isa) {
  auto tls_symbol = [&](const char* name) {
    for (const auto& s : elf.symbols())
      if (s.type == STT_TLS && s.name == name) return static_cast<std::int64_t>(s.value);
    return std::int64_t{0};
  };
  for (const auto& seg : elf.segments()) {
    if (seg.type != PT_TLS) continue;
    const std::int64_t align = seg.align ? static_cast<std::int64_t>(seg.align) : 1;
    auto align_up = [&](std::int64_t n) { return (n + align - 1) / align * align; };
    if (isa == Isa::Arm64) return align_up(16) + tls_symbol("runtime.tls_g");
    return tls_symbol("runtime.tlsg") - align_up(static_cast<std::int64_t>(seg.memsz));
  }
  if (isa == Isa::Arm64) return std::nullopt;
  return -8;
}

namespace {

// Where samples on the system stack continue on the goroutine's (bpf/cpu.h): the offsets
// the sampler reads, and the run-time ranges of the functions where the switch happens. A
// layout without them leaves them 0 (stacks stop at the switch, as before).
void set_stack_switch(const GoProcess& target, goscry_cpu_target& t) {
  const auto& l = target.layout();
  auto range = [&](const char* name, __u64& lo, __u64& hi) {
    if (auto f = target.binary().find_function(name)) {
      lo = f->entry + target.bias();
      hi = f->end + target.bias();
    }
  };
  range("runtime.systemstack", t.systemstack_lo, t.systemstack_hi);
  range("runtime.morestack", t.morestack_lo, t.morestack_hi);
  range("runtime.mcall", t.mcall_lo, t.mcall_hi);
  range("runtime.mstart", t.mstart_lo, t.mstart_hi);
  t.goexit_lo = target.goexit_entry();
  t.goexit_hi = target.goexit_end();
  if (l.m_g0 < 0 || l.g_sched_sp < 0 || l.g_sched_pc < 0) return;
  t.m_g0 = static_cast<__u16>(l.m_g0);
  t.g_sched_sp = static_cast<__u16>(l.g_sched_sp);
  t.g_sched_pc = static_cast<__u16>(l.g_sched_pc);
}

}  // namespace

goscry_cpu_target go_cpu_target(const GoProcess& target, bool goid) {
  goscry_cpu_target t{};
  const auto& l = target.layout();
  if (l.g_m < 0 || l.m_curg < 0 || l.g_goid < 0 || l.g_labels < 0) return t;
  // A zero tls_g says "not a Go target" (bpf/cpu.h): arm64 without cgo reads g from R28 and
  // keeps -8 there as that flag only.
  const auto tls_g = go_tls_g_offset(target.binary().elf(), target.binary().isa());
  t.tls_g = tls_g.value_or(-8);
  t.g_m = static_cast<__u16>(l.g_m);
  t.m_curg = static_cast<__u16>(l.m_curg);
  t.g_goid = static_cast<__u16>(l.g_goid);
  t.g_labels = static_cast<__u16>(l.g_labels);
  t.flags = goid ? GOSCRY_CPU_F_GOID : 0;
  if (tls_g && target.binary().isa() == Isa::Arm64) t.flags |= GOSCRY_CPU_F_TLS_G;
  set_stack_switch(target, t);
  const auto& tab = target.binary().pclntab();
  if (tab.num_functions() > 0) {
    t.text_lo = tab.entry(0) + target.bias();
    t.text_hi = tab.end(tab.num_functions() - 1) + target.bias();
  }
  return t;
}

Result<CpuTarget> open_cpu_target(pid_t pid, bool goid,
                                  Result<std::shared_ptr<const GoProcess>> go,
                                  std::shared_ptr<ModuleCache> cache) {
  CpuTarget t;
  auto symbolizer = ProcessSymbolizer::create(pid, cache);
  if (!symbolizer) return std::unexpected(symbolizer.error());
  t.symbolizer = std::move(*symbolizer);
  if (go) {
    t.go = std::move(*go);
    t.what = go_cpu_target(*t.go, goid);
  } else {
    t.note = "no goroutines nor pprof labels: " + go.error().message;
  }
  return t;
}

}  // namespace goscry
