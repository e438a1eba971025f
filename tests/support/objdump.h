// objdump as the oracle for machine code: every instruction it decodes in a file.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace goscry::testing {

// address -> mnemonic ("ret", "mov", ...) of every instruction `objdump -d` finds.
std::map<std::uint64_t, std::string> objdump_instructions(const std::string& path);

// The mnemonics of the instructions in [lo, hi).
std::vector<std::string> mnemonics_in(const std::map<std::uint64_t, std::string>& insns,
                                      std::uint64_t lo, std::uint64_t hi);

}  // namespace goscry::testing
