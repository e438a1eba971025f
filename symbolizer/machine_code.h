// The one interface behind every question goscry asks of a Go function's machine code —
// where it returns (ret_finder), where it calls what (emulated_probes), which globals it
// loads (runtime_globals) — for both instruction sets it reads: x86-64 (x86_decode, Zydis)
// and arm64 (arm64_decode, Go's fixed 4-byte words). Callers dispatch on the binary's
// machine (GoBinary::isa, isa_of), never on the host's.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>

#include "symbolizer/elf_file.h"
#include "symbolizer/error.h"

namespace goscry {

enum class Isa : std::uint8_t { X86_64, Arm64 };
const char* isa_name(Isa isa);  // "amd64", "arm64": Go's GOARCH names

// The instruction set of a 64-bit little-endian ELF file of a machine goscry reads; nullopt
// for any other (386, riscv64, ...).
std::optional<Isa> isa_of(const ElfFile& elf);

// Where control goes after an instruction.
enum class Flow : std::uint8_t {
  Next,      // the next instruction
  Call,      // a call (direct or not); returns to the next instruction
  Return,    // RET
  Jump,      // an unconditional branch (direct or not)
  CondJump,  // a conditional branch (Jcc, B.cond, CBZ/CBNZ, TBZ/TBNZ)
  Trap,      // INT3, UD2, UDF/BRK: never falls through
};

// One instruction as the architecture-neutral callers see it.
struct MachineInstruction {
  std::uint64_t offset = 0;   // from the start of the walked code
  std::uint64_t address = 0;  // virtual address: entry + offset
  std::uint32_t length = 0;
  Flow flow = Flow::Next;
  std::optional<std::uint64_t> target;  // of a direct call or branch
  // The absolute address this instruction loads a register from, when the address is
  // pc-relative: x86 `MOV reg, [rip+disp]`; arm64 a load (LDR, LDAR) through a register
  // that ADRP (+ ADD) set to that address just before.
  std::optional<std::uint64_t> pc_relative_load;
  // The same for a store of a register to memory: x86 `MOV [rip+disp], reg`; arm64 `STR`
  // through such a register.
  std::optional<std::uint64_t> pc_relative_store;
  std::uint32_t store_bytes = 0;  // how many it stores there (arm64 STP: 16, two registers)
};

using InstructionFn = std::function<bool(const MachineInstruction&)>;

// Decodes `code` (the bytes at virtual address `entry`) from its first byte on and calls
// `fn` on every instruction in order; `fn` returns false to stop the walk there. Fails with
// "undecodable instruction at +<offset>" at the first bytes that do not decode (x86), or
// "truncated instruction at +<offset>" (arm64: a length not a multiple of 4), after `fn`
// has seen every instruction before them.
Result<void> walk_instructions(Isa isa, std::span<const std::uint8_t> code, std::uint64_t entry,
                               const InstructionFn& fn);

}  // namespace goscry
