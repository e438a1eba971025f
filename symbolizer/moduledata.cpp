#include "symbolizer/moduledata.h"

#include <elf.h>

#include <vector>

namespace goscry {
namespace {

// Word indexes (pointer-sized) into moduledata. Slices take three words: pcHeader(0),
// funcnametab(1..3), cutab, filetab, pctab, pclntable, ftab(16..18), findfunctab(19),
// minpc(20), maxpc(21), text(22), etext(23), then data bounds; gofunc moves per release.
constexpr unsigned kFuncnametab = 1, kMinpc = 20, kMaxpc = 21, kText = 22, kEtext = 23;
constexpr unsigned kWords = 48;

unsigned gofunc_word(const PclntabHeader& h, int go_minor) {
  if (h.version == PclntabVersion::Go118) return 38;  // 1.18-1.19: ... types, etypes, rodata, gofunc
  if (go_minor >= 27) return 43;                       // 1.27: + typedesclen, itaboffset, itabsize
  return 40;                                           // 1.20-1.26: + covctrs, ecovctrs
}

// Sections where the linker puts moduledata, most likely first; then every other
// writable allocated section; with no section headers, writable PT_LOAD segments.
std::vector<std::pair<std::uint64_t, std::uint64_t>> candidate_ranges(const ElfFile& elf) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  for (const char* name : {".go.module", ".noptrdata", ".data.rel.ro", ".data"}) {
    if (const ElfSection* s = elf.section(name); s && s->type != SHT_NOBITS)
      out.emplace_back(s->addr, s->size);
  }
  for (const auto& s : elf.sections()) {
    if ((s.flags & SHF_ALLOC) && (s.flags & SHF_WRITE) && s.type != SHT_NOBITS)
      out.emplace_back(s.addr, s.size);
  }
  if (elf.sections().empty()) {
    for (const auto& seg : elf.segments())
      if (seg.type == PT_LOAD && (seg.flags & PF_W)) out.emplace_back(seg.vaddr, seg.filesz);
  }
  return out;
}

}  // namespace

Result<ModuleData> find_moduledata(const ElfFile& elf, std::uint64_t pclntab_vaddr,
                                   const PclntabHeader& h, int go_minor) {
  if (h.version == PclntabVersion::Go12)
    return fail(ErrorKind::Unsupported, "no moduledata layout for pclntab 1.2");
  const unsigned p = h.ptr_size;
  const unsigned gofunc = gofunc_word(h, go_minor);
  for (auto [addr, size] : candidate_ranges(elf)) {
    auto data = elf.read_vaddr(addr, size);
    if (!data) continue;
    for (std::uint64_t off = 0; off + std::uint64_t(kWords) * p <= data->size(); off += p) {
      auto w0 = data->uptr(off, p);
      if (!w0 || *w0 != pclntab_vaddr) continue;
      auto word = [&](unsigned i) { return *data->uptr(off + std::uint64_t(i) * p, p); };
      // funcnametab must point into the pclntab at the header's offset.
      if (word(kFuncnametab) != pclntab_vaddr + h.funcname_off) continue;
      ModuleData md;
      md.vaddr = addr + off;
      md.minpc = word(kMinpc);
      md.maxpc = word(kMaxpc);
      md.text = word(kText);
      md.etext = word(kEtext);
      if (md.minpc > md.maxpc || md.text > md.minpc) continue;
      if (h.version >= PclntabVersion::Go118) md.gofunc = word(gofunc);
      return md;
    }
  }
  return fail(ErrorKind::Unsupported, "runtime.moduledata not found");
}

}  // namespace goscry
