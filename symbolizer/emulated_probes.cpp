#include "symbolizer/emulated_probes.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "symbolizer/arm64_decode.h"
#include "symbolizer/x86_decode.h"

namespace goscry {

namespace {

// Registers as a bit set over GpReg; RSP, RBP and R14 (Go's g) are never tracked.
using RegSet = std::uint32_t;

std::optional<GpReg> gp_of(ZydisRegister r) {
  switch (ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, r)) {
    case ZYDIS_REGISTER_RAX: return GpReg::Rax;
    case ZYDIS_REGISTER_RBX: return GpReg::Rbx;
    case ZYDIS_REGISTER_RCX: return GpReg::Rcx;
    case ZYDIS_REGISTER_RDX: return GpReg::Rdx;
    case ZYDIS_REGISTER_RSI: return GpReg::Rsi;
    case ZYDIS_REGISTER_RDI: return GpReg::Rdi;
    case ZYDIS_REGISTER_R8: return GpReg::R8;
    case ZYDIS_REGISTER_R9: return GpReg::R9;
    case ZYDIS_REGISTER_R10: return GpReg::R10;
    case ZYDIS_REGISTER_R11: return GpReg::R11;
    case ZYDIS_REGISTER_R12: return GpReg::R12;
    case ZYDIS_REGISTER_R13: return GpReg::R13;
    case ZYDIS_REGISTER_R15: return GpReg::R15;
    default: return std::nullopt;
  }
}

RegSet bit(GpReg r) { return RegSet{1} << static_cast<unsigned>(r); }

bool is_control_transfer(const ZydisDecodedInstruction& i) {
  return i.meta.branch_type != ZYDIS_BRANCH_TYPE_NONE ||
         i.meta.category == ZYDIS_CATEGORY_RET || i.meta.category == ZYDIS_CATEGORY_CALL ||
         i.meta.category == ZYDIS_CATEGORY_UNCOND_BR || i.meta.category == ZYDIS_CATEGORY_COND_BR ||
         i.mnemonic == ZYDIS_MNEMONIC_INT3 || i.mnemonic == ZYDIS_MNEMONIC_UD2;
}


// The new register set after `d` ran: written registers lose the value, a 64-bit
// register-to-register MOV from a holder passes it on.
RegSet apply(const Instruction& d, RegSet holders) {
  std::optional<GpReg> copy_to;
  if (d.insn.mnemonic == ZYDIS_MNEMONIC_MOV && d.insn.operand_count_visible == 2 &&
      d.ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER && d.ops[1].type == ZYDIS_OPERAND_TYPE_REGISTER &&
      d.ops[0].size == 64) {
    auto src = gp_of(d.ops[1].reg.value);
    if (src && (holders & bit(*src))) copy_to = gp_of(d.ops[0].reg.value);
  }
  for (unsigned k = 0; k < d.insn.operand_count; ++k) {
    const auto& op = d.ops[k];
    if (op.type != ZYDIS_OPERAND_TYPE_REGISTER || !(op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE))
      continue;
    if (auto r = gp_of(op.reg.value)) holders &= ~bit(*r);
  }
  if (copy_to) holders |= bit(*copy_to);
  return holders;
}

GpReg lowest(RegSet s) {
  unsigned n = 0;
  while (!(s & (RegSet{1} << n))) ++n;
  return static_cast<GpReg>(n);
}

// Every instruction of a function and the targets of its relative branches.
struct Listing {
  std::vector<std::uint64_t> offsets;  // from the entry
  std::set<std::uint64_t> targets;     // vaddrs
};

std::optional<Listing> list(std::span<const std::uint8_t> code, std::uint64_t entry) {
  Listing out;
  auto walked = for_each_instruction(code, entry, [&](const Instruction& d) {
    out.offsets.push_back(d.offset);
    if (d.insn.meta.category != ZYDIS_CATEGORY_CALL)  // a CALL's target is another function
      if (auto t = relative_target(d)) out.targets.insert(*t);
    return true;
  });
  if (!walked) return std::nullopt;
  return out;
}

}  // namespace

const char* gp_reg_name(GpReg r) {
  static const char* const names[] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8",
                                      "r9",  "r10", "r11", "r12", "r13", "r15"};
  return names[static_cast<unsigned>(r)];
}

const char* probe_cost_name(ProbeCost c) {
  switch (c) {
    case ProbeCost::Stepped: return "stepped";
    case ProbeCost::Emulated: return "emulated";
    case ProbeCost::Nop5: return "nop5";
  }
  return "?";
}

ProbeCost probe_cost(std::span<const std::uint8_t> code) {
  Instruction d;
  if (!decode_instruction(code, 0, d)) return ProbeCost::Stepped;
  const ZydisDecodedInstruction& i = d.insn;
  // The kernel's nop5 is exactly 0f 1f 44 00 00 (x86_nops[5]).
  static constexpr std::uint8_t kNop5[] = {0x0f, 0x1f, 0x44, 0x00, 0x00};
  if (i.length == 5 && std::memcmp(code.data(), kNop5, 5) == 0) return ProbeCost::Nop5;
  if (i.mnemonic == ZYDIS_MNEMONIC_NOP) return ProbeCost::Emulated;
  // branch_setup_xol_ops: JMP/Jcc/CALL rel8/rel32, without a 0x66 prefix.
  const bool opsize = i.attributes & ZYDIS_ATTRIB_HAS_OPERANDSIZE;
  const std::uint8_t op = code[i.raw.prefix_count];
  const bool rel = i.attributes & ZYDIS_ATTRIB_IS_RELATIVE;
  if (!opsize && rel &&
      (op == 0xe8 || op == 0xe9 || op == 0xeb || (op >= 0x70 && op <= 0x7f) ||
       (op == 0x0f && i.length > i.raw.prefix_count + 1u &&
        (code[i.raw.prefix_count + 1] & 0xf0) == 0x80)))
    return ProbeCost::Emulated;
  // push_setup_xol_ops: PUSH r64 (50+r, REX.B 41 for r8-r15), no other prefix.
  if (i.length == 1 && code[0] >= 0x50 && code[0] <= 0x57) return ProbeCost::Emulated;
  if (i.length == 2 && code[0] == 0x41 && code[1] >= 0x50 && code[1] <= 0x57)
    return ProbeCost::Emulated;
  return ProbeCost::Stepped;
}

std::optional<std::uint64_t> stack_check_branch(std::span<const std::uint8_t> code,
                                                std::uint64_t entry) {
  // CMP RSP, [R14+0x10] (49 3b 66 10), or LEA R12, [RSP-n]; CMP R12, [R14+0x10] (4d 3b 66 10).
  static constexpr std::uint8_t kCmpRsp[] = {0x49, 0x3b, 0x66, 0x10};
  static constexpr std::uint8_t kCmpR12[] = {0x4d, 0x3b, 0x66, 0x10};
  std::uint64_t off = 0;
  Instruction d;
  const ZydisDecodedInstruction& i = d.insn;
  if (code.size() >= 4 && std::memcmp(code.data(), kCmpRsp, 4) == 0) {
    off = 4;
  } else if (decode_instruction(code, entry, d) && i.mnemonic == ZYDIS_MNEMONIC_LEA &&
             code.size() >= i.length + 4u &&
             std::memcmp(code.data() + i.length, kCmpR12, 4) == 0) {
    off = i.length + 4u;
  } else {
    return std::nullopt;
  }
  if (!decode_instruction(code.subspan(off), entry + off, d) ||
      i.meta.category != ZYDIS_CATEGORY_COND_BR)
    return std::nullopt;
  if (probe_cost(code.subspan(off)) != ProbeCost::Emulated) return std::nullopt;
  return entry + off;
}

std::vector<std::uint64_t> calls_to(std::span<const std::uint8_t> code, std::uint64_t entry,
                                    std::uint64_t callee) {
  std::vector<std::uint64_t> out;
  // A byte scan first: most functions hold no E8 rel32 aimed at the callee at all.
  bool any = false;
  for (std::size_t p = 0; p + 5 <= code.size() && !any; ++p) {
    if (code[p] != 0xe8) continue;
    std::int32_t rel;
    std::memcpy(&rel, code.data() + p + 1, 4);
    any = entry + p + 5 + static_cast<std::int64_t>(rel) == callee;
  }
  if (!any) return out;
  // Bytes that do not decode end the walk; the calls before them still count.
  (void)for_each_instruction(code, entry, [&](const Instruction& d) {
    if (d.insn.meta.category == ZYDIS_CATEGORY_CALL && relative_target(d) == callee)
      out.push_back(d.address);
    return true;
  });
  return out;
}

std::optional<std::uint64_t> stack_check_branch(Isa isa, std::span<const std::uint8_t> code,
                                                std::uint64_t entry) {
  return isa == Isa::Arm64 ? arm64_stack_check_branch(code, entry)
                           : stack_check_branch(code, entry);
}

std::vector<std::uint64_t> calls_to(Isa isa, std::span<const std::uint8_t> code,
                                    std::uint64_t entry, std::uint64_t callee) {
  if (isa == Isa::X86_64) return calls_to(code, entry, callee);
  // Every arm64 word is an instruction: a BL word aimed at the callee is such a call.
  std::vector<std::uint64_t> out;
  for (std::uint64_t off = 0; off + 4 <= code.size(); off += 4) {
    const Arm64Instruction i = decode_arm64(arm64_word(code, off));
    if (i.op == Arm64Op::Bl && arm64_branch_target(i, entry + off) == callee)
      out.push_back(entry + off);
  }
  return out;
}

Result<ValueProbe> result_after_call(std::span<const std::uint8_t> code, std::uint64_t entry,
                                     std::uint64_t call) {
  auto listing = list(code, entry);
  if (!listing) return fail(ErrorKind::Unsupported, "undecodable caller at " + to_hex(entry));
  auto it = std::find(listing->offsets.begin(), listing->offsets.end(), call - entry);
  if (it == listing->offsets.end() || ++it == listing->offsets.end())
    return fail(ErrorKind::Unsupported, "no instruction after the call at " + to_hex(call));
  const std::uint64_t after = entry + *it;
  if (listing->targets.count(after))
    return fail(ErrorKind::Unsupported,
                "the return address " + to_hex(after) + " is also a branch target");
  ValueProbe best{after, GpReg::Rax, ProbeCost::Stepped};
  RegSet holders = bit(GpReg::Rax);
  // list() decoded all of it, so the walk from `after` on cannot fail.
  (void)for_each_instruction(code.subspan(after - entry), after, [&](const Instruction& d) {
    if (d.address != after && listing->targets.count(d.address))
      return false;  // another path joins here
    const ProbeCost cost = probe_cost(code.subspan(d.address - entry));
    if (cost > best.cost) {
      best = {d.address, (holders & bit(GpReg::Rax)) ? GpReg::Rax : lowest(holders), cost};
      if (cost == ProbeCost::Nop5) return false;
    }
    if (is_control_transfer(d.insn)) return false;
    holders = apply(d, holders);
    return holders != 0;
  });
  return best;
}

Result<std::vector<std::uint64_t>> runtime_calls_to(const GoBinary& bin, std::uint64_t callee) {
  const Pclntab& tab = bin.pclntab();
  std::vector<std::uint64_t> out;
  for (std::size_t i = 0; i < tab.num_functions(); ++i) {
    if (!tab.name(i).starts_with("runtime.")) continue;
    const std::uint64_t entry = tab.entry(i), end = tab.end(i);
    if (end <= entry) continue;
    auto bytes = bin.elf().read_vaddr(entry, end - entry);
    if (!bytes) return context(bytes.error(), bin.elf().path() + ": " + std::string(tab.name(i)));
    for (auto c : calls_to(bin.isa(), bytes->bytes(), entry, callee)) out.push_back(c);
  }
  return out;
}

}  // namespace goscry
