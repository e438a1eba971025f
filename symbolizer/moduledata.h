// runtime.moduledata, the runtime's root of a module's tables. goscry needs two fields the
// pclntab does not carry: `text` (the runtime's text start; the pclntab header has no
// textStart from Go 1.26, and .text's address differs from it with cgo/external linking)
// and `gofunc` (base of funcdata offsets, where the inline trees are). It is found by
// scanning data for the pointer to the pclntab that is its first field, and checked by the
// slices that follow it. Layout per release: runtime/symtab.go `moduledata`.
#pragma once

#include <cstdint>

#include "symbolizer/elf_file.h"
#include "symbolizer/pclntab.h"

namespace goscry {

struct ModuleData {
  std::uint64_t vaddr = 0;
  std::uint64_t minpc = 0, maxpc = 0, text = 0, etext = 0;
  std::uint64_t gofunc = 0;  // 0 before Go 1.18 (funcdata are pointers there)
};

// go_minor: from .go.buildinfo, 0 when unknown (then the pclntab magic decides).
Result<ModuleData> find_moduledata(const ElfFile& elf, std::uint64_t pclntab_vaddr,
                                   const PclntabHeader& h, int go_minor);

}  // namespace goscry
