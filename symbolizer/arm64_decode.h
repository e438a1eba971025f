// The few arm64 instruction forms Go's arm64 compiler emits at the places goscry looks at
// (docs/go-runtime.md "arm64"): returns, calls and branches, the ADRP (+ ADD) and load that
// read a global, register moves and constants, and the stack-check prologue. Go's arm64
// code is fixed 4-byte little-endian words, so every word is one instruction: the walk never
// loses its way, and a word of another form is just `Other`. The arm64 half of
// machine_code.h (walk_instructions dispatches here).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "symbolizer/error.h"
#include "symbolizer/machine_code.h"

namespace goscry {

enum class Arm64Op : std::uint8_t {
  Other,
  Ret,        // RET Xn
  Bl,         // BL imm26 (Go: CALL sym)
  B,          // B imm26 (Go: JMP)
  BCond,      // B.cond imm19 (Go: BEQ, BLS, ...)
  Cbz,        // CBZ/CBNZ Rt, imm19
  Tbz,        // TBZ/TBNZ Rt, #bit, imm14
  Br,         // BR Xn (Go: JMP (Rn))
  Blr,        // BLR Xn (Go: CALL (Rn))
  Adrp,       // ADRP Xd, page (Go: first half of MOVD sym(SB) / $sym(SB))
  AddImm,     // ADD Xd, Xn, #imm (64-bit; Go: ADD $imm, Rn, Rd)
  Load,       // LDR/LDRB/LDRH/LDRSW... Rt, [Xn, #imm] unsigned offset, or LDAR Rt, [Xn]
  Store,      // STR/STRB/STRH Rt, [Xn, #imm] unsigned offset (Go: MOVD Rt, off(Rn))
  StorePair,  // STP Xt, Xt2, [Xn, #imm] signed offset (Go: STP (Rt, Rt2), off(Rn))
  MovImm,     // MOVZ Rd, #imm16 << shift, or ORR Rd, ZR, #bitmask (Go: MOVD $c, Rd)
  MovReg,     // ORR Xd, XZR, Xm (64-bit; Go: MOVD Rm, Rd)
  AddReg,     // ADD Xd, Xn, Xm (64-bit, unshifted; Go: ADD Rm, Rn, Rd)
  Ldaxr,      // LDAXR Xt, [Xn] (64-bit; the load of Go's LL/SC atomic add loop)
  LdAddAl,    // LDADDAL Xs, Xt, [Xn] (64-bit; Go's LSE atomic add, objdump prints "?")
  Udf,        // UDF / BRK: Go's padding between functions, and its traps
};

struct Arm64Instruction {
  std::uint32_t word = 0;
  Arm64Op op = Arm64Op::Other;
  unsigned rd = 0;        // destination (Rt of a load, Rt of CBZ/TBZ), 0-31 (31: XZR or SP)
  unsigned rn = 0;        // base or source register (Rm of MovReg)
  unsigned rm = 0;        // second source: Rm of AddReg, Rs of LdAddAl, Rt2 of StorePair
  std::int64_t imm = 0;   // branch offset in bytes; ADRP page offset; ADD/load offset; constant
  unsigned cond = 0;      // B.cond's condition (0 EQ ... 9 LS ...)
  bool is_64bit = false;  // sf bit of a data-processing form; a 64-bit load
};

// What the word is; Other for every form goscry does not need.
Arm64Instruction decode_arm64(std::uint32_t word);

// The target of a direct branch or call at `pc`.
std::optional<std::uint64_t> arm64_branch_target(const Arm64Instruction& i, std::uint64_t pc);

// The little-endian word at `offset` of `code` (the caller checks that 4 bytes are there).
std::uint32_t arm64_word(std::span<const std::uint8_t> code, std::uint64_t offset);

// walk_instructions for Isa::Arm64.
Result<void> walk_arm64(std::span<const std::uint8_t> code, std::uint64_t entry,
                        const InstructionFn& fn);

// Go's stack check at the entry of a function that may grow its stack:
//   MOVD 16(g), R16; CMP R16, RSP; BLS morestack                     (small frames)
//   MOVD 16(g), R16; SUB $n, RSP, R17; CMP R16, R17; BLS morestack   (big frames)
// with g in R28: the BLS's address, or nullopt for any other prologue. Every argument
// register still holds its value there.
std::optional<std::uint64_t> arm64_stack_check_branch(std::span<const std::uint8_t> code,
                                                      std::uint64_t entry);

}  // namespace goscry
