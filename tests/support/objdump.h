// binutils as oracles: objdump for machine code (every instruction it decodes in a
// file), nm for native symbols.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace goscry::testing {

// address -> mnemonic ("ret", "mov", ...) of every instruction `objdump -d` finds.
std::map<std::uint64_t, std::string> objdump_instructions(const std::string& path);

// The mnemonics of the instructions in [lo, hi).
std::vector<std::string> mnemonics_in(const std::map<std::uint64_t, std::string>& insns,
                                      std::uint64_t lo, std::uint64_t hi);

// Names by address of nm's function symbols (T/t/W/i) defined in a file, without their
// version suffix (getpid@@GLIBC_2.2.5); dynamic = nm -D.
std::map<std::uint64_t, std::set<std::string>> nm_functions(const std::string& file,
                                                            bool dynamic);

}  // namespace goscry::testing
