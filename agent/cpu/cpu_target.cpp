#include "agent/cpu/cpu_target.h"

#include <elf.h>

namespace goscry {

std::int64_t go_tls_g_offset(const ElfFile& elf) {
  for (const auto& seg : elf.segments()) {
    if (seg.type != PT_TLS) continue;
    const std::uint64_t align = seg.align ? seg.align : 1;
    const std::int64_t block = static_cast<std::int64_t>((seg.memsz + align - 1) / align * align);
    std::int64_t at = 0;
    for (const auto& s : elf.symbols())
      if (s.type == STT_TLS && s.name == "runtime.tlsg") at = static_cast<std::int64_t>(s.value);
    return at - block;
  }
  return -8;
}

goscry_cpu_target go_cpu_target(const GoProcess& target, bool goid) {
  goscry_cpu_target t{};
  const auto& l = target.layout();
  if (l.g_m < 0 || l.m_curg < 0 || l.g_goid < 0 || l.g_labels < 0) return t;
  t.tls_g = go_tls_g_offset(target.binary().elf());
  t.g_m = static_cast<__u16>(l.g_m);
  t.m_curg = static_cast<__u16>(l.m_curg);
  t.g_goid = static_cast<__u16>(l.g_goid);
  t.g_labels = static_cast<__u16>(l.g_labels);
  t.flags = goid ? GOSCRY_CPU_F_GOID : 0;
  const auto& tab = target.binary().pclntab();
  if (tab.num_functions() > 0) {
    t.text_lo = tab.entry(0) + target.bias();
    t.text_hi = tab.end(tab.num_functions() - 1) + target.bias();
  }
  return t;
}

}  // namespace goscry
