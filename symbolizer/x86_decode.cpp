#include "symbolizer/x86_decode.h"

namespace goscry {

namespace {

// A Zydis decoder is read-only once initialised, so one serves every caller and thread;
// the arguments are constants Zydis always accepts.
const ZydisDecoder& decoder() {
  static const ZydisDecoder d = [] {
    ZydisDecoder init;
    ZydisDecoderInit(&init, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
    return init;
  }();
  return d;
}

}  // namespace

bool decode_instruction(std::span<const std::uint8_t> code, std::uint64_t address,
                        Instruction& out) {
  out.address = address;
  return ZYAN_SUCCESS(
      ZydisDecoderDecodeFull(&decoder(), code.data(), code.size(), &out.insn, out.ops));
}

Result<void> for_each_instruction(std::span<const std::uint8_t> code, std::uint64_t entry,
                                  const std::function<bool(const Instruction&)>& fn) {
  Instruction i;
  for (std::uint64_t off = 0; off < code.size(); off += i.insn.length) {
    if (!decode_instruction(code.subspan(off), entry + off, i))
      return fail(ErrorKind::Unsupported, "undecodable instruction at +" + to_hex(off));
    i.offset = off;
    if (!fn(i)) break;
  }
  return {};
}

namespace {

Flow flow_of(const ZydisDecodedInstruction& i) {
  if (i.mnemonic == ZYDIS_MNEMONIC_RET) return Flow::Return;
  if (i.meta.category == ZYDIS_CATEGORY_CALL) return Flow::Call;
  if (i.meta.category == ZYDIS_CATEGORY_UNCOND_BR) return Flow::Jump;
  if (i.meta.category == ZYDIS_CATEGORY_COND_BR) return Flow::CondJump;
  if (i.mnemonic == ZYDIS_MNEMONIC_INT3 || i.mnemonic == ZYDIS_MNEMONIC_UD2) return Flow::Trap;
  return Flow::Next;
}


// MOV reg, [rip+disp] (mem = 1) or MOV [rip+disp], reg (mem = 0): the address it reads or
// writes.
std::optional<std::uint64_t> rip_relative_move(const Instruction& d, unsigned mem) {
  const unsigned reg = 1 - mem;
  if (d.insn.mnemonic != ZYDIS_MNEMONIC_MOV || d.insn.operand_count_visible != 2 ||
      d.ops[reg].type != ZYDIS_OPERAND_TYPE_REGISTER ||
      d.ops[mem].type != ZYDIS_OPERAND_TYPE_MEMORY || d.ops[mem].mem.base != ZYDIS_REGISTER_RIP ||
      d.ops[mem].mem.index != ZYDIS_REGISTER_NONE)
    return std::nullopt;
  ZyanU64 target = 0;
  if (!ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&d.insn, &d.ops[mem], d.address, &target)))
    return std::nullopt;
  return target;
}

}  // namespace

Result<void> walk_x86_64(std::span<const std::uint8_t> code, std::uint64_t entry,
                         const InstructionFn& fn) {
  return for_each_instruction(code, entry, [&](const Instruction& d) {
    MachineInstruction m;
    m.offset = d.offset;
    m.address = d.address;
    m.length = d.insn.length;
    m.flow = flow_of(d.insn);
    m.target = relative_target(d);
    m.pc_relative_load = rip_relative_move(d, 1);
    m.pc_relative_store = rip_relative_move(d, 0);
    if (m.pc_relative_store) m.store_bytes = d.ops[0].size / 8;
    return fn(m);
  });
}

// The target of a rel8/rel32 JMP, Jcc or CALL.
std::optional<std::uint64_t> relative_target(const Instruction& d) {
  if (!(d.insn.attributes & ZYDIS_ATTRIB_IS_RELATIVE)) return std::nullopt;
  for (unsigned k = 0; k < d.insn.operand_count_visible; ++k)
    if (d.ops[k].type == ZYDIS_OPERAND_TYPE_IMMEDIATE && d.ops[k].imm.is_relative)
      return d.address + d.insn.length + static_cast<std::uint64_t>(d.ops[k].imm.value.s);
  return std::nullopt;
}

}  // namespace goscry
