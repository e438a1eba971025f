// Where the runtime keeps its list of every goroutine: runtime.allglen (how many) and
// runtime.allgptr (&allgs[0]), the pair the runtime itself reads without a lock
// (atomicAllG: forEachGRace, the goroutine profile). goscry dump reads them from outside.
//
// With .symtab the addresses are the data symbols'. Stripped binaries keep none, so they
// come from the machine code of runtime.forEachGRace: atomicAllG is inlined there and
// loads allglen, then allgptr, with RIP-relative MOVs, in every release 1.19-1.27 (1.16
// introduced allgptr). Checked against `go tool nm` on the unstripped twin of each fixture.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "symbolizer/elf_file.h"
#include "symbolizer/error.h"

namespace goscry {

// Link-time virtual addresses (a PIE adds its load bias).
struct AllgsAddresses {
  std::uint64_t allglen = 0;
  std::uint64_t allgptr = 0;
  std::string source;  // ".symtab" or "runtime.forEachGRace code"
};

// Targets of the RIP-relative loads `MOV reg, [rip+disp]` in `code` (which starts at
// virtual address `entry`), in program order. amd64 only.
Result<std::vector<std::uint64_t>> rip_relative_loads(std::span<const std::uint8_t> code,
                                                      std::uint64_t entry,
                                                      const std::string& name);

// From runtime.forEachGRace's code alone (what stripped binaries need).
Result<AllgsAddresses> locate_allgs_in_code(const ElfFile& elf, std::uint64_t entry,
                                            std::uint64_t end);

// .symtab first; else decodes runtime.forEachGRace at [entry, end) (from the pclntab).
// `for_each_g_race_end` == 0 means unknown.
Result<AllgsAddresses> locate_allgs(const ElfFile& elf, std::uint64_t for_each_g_race_entry,
                                    std::uint64_t for_each_g_race_end);

}  // namespace goscry
