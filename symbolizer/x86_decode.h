// The one x86-64 instruction walk behind ret_finder, emulated_probes and runtime_globals:
// each of them reads a Go function's machine code from its entry, instruction by
// instruction, and looks at the instructions it cares about. amd64 (Zydis); a private
// header of the symbolizer (Zydis is not part of its public interface). The neutral view
// of the same walk, shared with arm64_decode, is machine_code.h.
#pragma once

#include <optional>
#include <Zydis/Zydis.h>

#include <cstdint>
#include <functional>
#include <span>

#include "symbolizer/error.h"
#include "symbolizer/machine_code.h"

namespace goscry {

// One decoded instruction, with its operands (hidden ones too) and where it is.
struct Instruction {
  ZydisDecodedInstruction insn;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  std::uint64_t offset = 0;   // from the start of the walked code
  std::uint64_t address = 0;  // virtual address: entry + offset
};

// Decodes the instruction at the start of `code`, which sits at virtual address `address`;
// false for bytes that do not decode (or an instruction cut off by the end of `code`).
bool decode_instruction(std::span<const std::uint8_t> code, std::uint64_t address,
                        Instruction& out);

// Decodes `code` (the bytes at virtual address `entry`) from its first byte on and calls
// `fn` on every instruction in order; `fn` returns false to stop the walk there. Fails with
// "undecodable instruction at +<offset>" at the first bytes that do not decode, after `fn`
// has seen every instruction before them.
Result<void> for_each_instruction(std::span<const std::uint8_t> code, std::uint64_t entry,
                                  const std::function<bool(const Instruction&)>& fn);

// walk_instructions for Isa::X86_64: for_each_instruction seen through MachineInstruction.
Result<void> walk_x86_64(std::span<const std::uint8_t> code, std::uint64_t entry,
                         const InstructionFn& fn);

// The target of a rel8/rel32 JMP, Jcc or CALL; none for other instructions.
std::optional<std::uint64_t> relative_target(const Instruction& d);

}  // namespace goscry
