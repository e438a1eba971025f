// binutils as oracles: objdump for machine code (every instruction it decodes in a
// file), nm for native symbols; `go tool objdump` for arm64 Go code (binutils' objdump here
// reads x86 only; Go's reads every GOARCH and prints Go's own assembler syntax).
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

// One instruction as `go tool objdump` prints it.
struct GoObjdumpLine {
  std::string function;  // of the TEXT header above it: "runtime.newproc1"
  std::uint64_t address = 0;
  std::string hex;   // the encoding as printed (arm64: the 32-bit word, "f9400b90")
  std::string text;  // Go syntax: "MOVD 16(R28), R16", "CALL runtime.newproc1(SB)", "?"
};

// Every instruction of the functions whose names match `regex` (all when empty), in order.
std::vector<GoObjdumpLine> go_objdump(const std::string& path, const std::string& regex = "");

}  // namespace goscry::testing
