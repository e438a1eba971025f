#include "symbolizer/arm64_decode.h"

#include <array>

namespace goscry {

namespace {

// Encodings from the Arm Architecture Reference Manual (A64 "Branches, exception
// generating and system instructions", "Data processing - immediate", "Loads and stores").

std::int64_t sign_extend(std::uint64_t v, unsigned bits) {
  const std::uint64_t m = std::uint64_t{1} << (bits - 1);
  return static_cast<std::int64_t>((v ^ m) - m);
}

unsigned bits(std::uint32_t w, unsigned lo, unsigned n) { return (w >> lo) & ((1u << n) - 1); }

// DecodeBitMasks of a logical immediate (N:immr:imms), the value an ORR with it holds;
// nullopt for a reserved encoding.
std::optional<std::uint64_t> bitmask_immediate(unsigned n, unsigned immr, unsigned imms,
                                               bool is_64bit) {
  const unsigned combined = (n << 6) | (~imms & 0x3f);
  if (combined == 0) return std::nullopt;
  unsigned len = 31 - static_cast<unsigned>(__builtin_clz(combined));
  if (len < 1 || (!is_64bit && n)) return std::nullopt;
  const unsigned size = 1u << len, levels = size - 1;
  const unsigned s = imms & levels, r = immr & levels;
  if (s == levels) return std::nullopt;
  std::uint64_t elem = (s + 1 == 64) ? ~0ull : ((std::uint64_t{1} << (s + 1)) - 1);
  if (r) elem = ((elem >> r) | (elem << (size - r))) & (size == 64 ? ~0ull : ((1ull << size) - 1));
  std::uint64_t out = 0;
  for (unsigned k = 0; k < 64; k += size) out |= elem << k;
  return is_64bit ? out : (out & 0xffffffffu);
}

Arm64Instruction branch(std::uint32_t w) {
  Arm64Instruction i{.word = w};
  if ((w & 0xfffffc1f) == 0xd65f0000) {
    i.op = Arm64Op::Ret, i.rn = bits(w, 5, 5);
  } else if ((w & 0x7c000000) == 0x14000000) {  // B, BL
    i.op = (w >> 31) ? Arm64Op::Bl : Arm64Op::B;
    i.imm = sign_extend(bits(w, 0, 26), 26) * 4;
  } else if ((w & 0xff000010) == 0x54000000) {
    i.op = Arm64Op::BCond, i.cond = bits(w, 0, 4), i.imm = sign_extend(bits(w, 5, 19), 19) * 4;
  } else if ((w & 0x7e000000) == 0x34000000) {
    i.op = Arm64Op::Cbz, i.rd = bits(w, 0, 5), i.imm = sign_extend(bits(w, 5, 19), 19) * 4;
    i.is_64bit = w >> 31;
  } else if ((w & 0x7e000000) == 0x36000000) {
    i.op = Arm64Op::Tbz, i.rd = bits(w, 0, 5), i.imm = sign_extend(bits(w, 5, 14), 14) * 4;
  } else if ((w & 0xfffffc1f) == 0xd61f0000) {
    i.op = Arm64Op::Br, i.rn = bits(w, 5, 5);
  } else if ((w & 0xfffffc1f) == 0xd63f0000) {
    i.op = Arm64Op::Blr, i.rn = bits(w, 5, 5);
  }
  return i;
}

Arm64Instruction data_immediate(std::uint32_t w) {
  Arm64Instruction i{
      .word = w, .rd = bits(w, 0, 5), .rn = bits(w, 5, 5), .is_64bit = bool(w >> 31)};
  if ((w & 0x9f000000) == 0x90000000) {  // ADRP: immhi:immlo pages
    i.op = Arm64Op::Adrp;
    i.imm = sign_extend((bits(w, 5, 19) << 2) | bits(w, 29, 2), 21) * 4096;
  } else if ((w & 0xff800000) == 0x91000000) {  // ADD (immediate), 64-bit, no flags
    i.op = Arm64Op::AddImm;
    i.imm = std::int64_t{bits(w, 10, 12)} << (bits(w, 22, 1) ? 12 : 0);
  } else if ((w & 0x7f800000) == 0x52800000) {  // MOVZ
    i.op = Arm64Op::MovImm;
    i.imm = static_cast<std::int64_t>(std::uint64_t{bits(w, 5, 16)} << (16 * bits(w, 21, 2)));
  } else if ((w & 0x7f8003e0) == 0x320003e0) {  // ORR Rd, ZR, #bitmask
    auto v = bitmask_immediate(bits(w, 22, 1), bits(w, 16, 6), bits(w, 10, 6), i.is_64bit);
    if (v) i.op = Arm64Op::MovImm, i.imm = static_cast<std::int64_t>(*v);
  }
  return i;
}

Arm64Instruction load_store(std::uint32_t w) {
  Arm64Instruction i{.word = w, .rd = bits(w, 0, 5), .rn = bits(w, 5, 5)};
  const unsigned size = bits(w, 30, 2);
  const unsigned opc = bits(w, 22, 2);
  // LDR{B,H,,} (unsigned offset, scaled by the size), and the sign-extending LDRS{B,H,W}
  // (opc 2-3; with size 3 that is PRFM, and LDRSW has only opc 2).
  const bool sign_extending = opc >= 2 && size < 3 && !(size == 2 && opc == 3);
  if ((w & 0x3f000000) == 0x39000000 && (opc == 1 || sign_extending)) {
    i.op = Arm64Op::Load, i.imm = std::int64_t{bits(w, 10, 12)} << size;
    i.is_64bit = size == 3;
  } else if ((w & 0x3fc00000) == 0x39000000) {  // STR{B,H,,} (unsigned offset)
    i.op = Arm64Op::Store, i.imm = std::int64_t{bits(w, 10, 12)} << size;
    i.is_64bit = size == 3;
  } else if ((w & 0xffc00000) == 0xa9000000) {  // STP Xt, Xt2 (signed offset)
    i.op = Arm64Op::StorePair, i.rm = bits(w, 10, 5), i.imm = sign_extend(bits(w, 15, 7), 7) * 8;
    i.is_64bit = true;
  } else if ((w & 0x3ffffc00) == 0x08dffc00) {  // LDAR{B,H,,} Rt, [Xn]
    i.op = Arm64Op::Load, i.is_64bit = size == 3;
  } else if ((w & 0xfffffc00) == 0xc85ffc00) {
    i.op = Arm64Op::Ldaxr, i.is_64bit = true;
  } else if ((w & 0xffe0fc00) == 0xf8e00000) {
    i.op = Arm64Op::LdAddAl, i.rm = bits(w, 16, 5), i.is_64bit = true;
  }
  return i;
}

}  // namespace

Arm64Instruction decode_arm64(std::uint32_t w) {
  if ((w & 0xffff0000) == 0 || (w & 0xffe0001f) == 0xd4200000)  // UDF #imm16, BRK #imm16
    return Arm64Instruction{.word = w, .op = Arm64Op::Udf};
  if ((w & 0x7fe0ffe0) == 0x2a0003e0 && (w >> 31))  // ORR Xd, XZR, Xm (MOV)
    return Arm64Instruction{.word = w,
                            .op = Arm64Op::MovReg,
                            .rd = bits(w, 0, 5),
                            .rn = bits(w, 16, 5),
                            .is_64bit = true};
  if ((w & 0xffe0fc00) == 0x8b000000)  // ADD Xd, Xn, Xm (LSL #0)
    return Arm64Instruction{.word = w,
                            .op = Arm64Op::AddReg,
                            .rd = bits(w, 0, 5),
                            .rn = bits(w, 5, 5),
                            .rm = bits(w, 16, 5),
                            .is_64bit = true};
  switch (bits(w, 25, 4)) {  // op0: the instruction class
    case 0b1010:
    case 0b1011:
      return branch(w);
    case 0b1000:
    case 0b1001:
      return data_immediate(w);
    case 0b0100:
    case 0b0110:
    case 0b1100:
    case 0b1110:
      return load_store(w);
  }
  return Arm64Instruction{.word = w};
}

std::optional<std::uint64_t> arm64_branch_target(const Arm64Instruction& i, std::uint64_t pc) {
  switch (i.op) {
    case Arm64Op::Bl:
    case Arm64Op::B:
    case Arm64Op::BCond:
    case Arm64Op::Cbz:
    case Arm64Op::Tbz:
      return pc + static_cast<std::uint64_t>(i.imm);
    default:
      return std::nullopt;
  }
}

std::uint32_t arm64_word(std::span<const std::uint8_t> code, std::uint64_t offset) {
  return std::uint32_t{code[offset]} | std::uint32_t{code[offset + 1]} << 8 |
         std::uint32_t{code[offset + 2]} << 16 | std::uint32_t{code[offset + 3]} << 24;
}

namespace {

Flow flow_of(Arm64Op op) {
  switch (op) {
    case Arm64Op::Ret:
      return Flow::Return;
    case Arm64Op::Bl:
    case Arm64Op::Blr:
      return Flow::Call;
    case Arm64Op::B:
    case Arm64Op::Br:
      return Flow::Jump;
    case Arm64Op::BCond:
    case Arm64Op::Cbz:
    case Arm64Op::Tbz:
      return Flow::CondJump;
    case Arm64Op::Udf:
      return Flow::Trap;
    default:
      return Flow::Next;
  }
}

// Registers that hold a known absolute address (from ADRP, + ADD): Go reads a global with
// `ADRP page, Rn; ADD $off, Rn, Rn` and then loads through Rn, or `ADRP; LDR off(Rn)`.
class KnownAddresses {
 public:
  // The address `i` loads from or stores to, when its base register is known (into `m`);
  // then updates what is known.
  void step(const Arm64Instruction& i, std::uint64_t pc, MachineInstruction& m) {
    const bool store = i.op == Arm64Op::Store || i.op == Arm64Op::StorePair;
    if ((i.op == Arm64Op::Load || store) && known_[i.rn]) {
      const std::uint64_t at = *known_[i.rn] + static_cast<std::uint64_t>(i.imm);
      (store ? m.pc_relative_store : m.pc_relative_load) = at;
      if (store) m.store_bytes = i.op == Arm64Op::StorePair ? 16 : 1u << (i.word >> 30);
    }
    std::optional<std::uint64_t> next;
    if (i.op == Arm64Op::Adrp) {
      next = (pc & ~0xfffull) + static_cast<std::uint64_t>(i.imm);
    } else if (i.op == Arm64Op::AddImm && known_[i.rn]) {
      next = *known_[i.rn] + static_cast<std::uint64_t>(i.imm);
    }
    if (flow_of(i.op) != Flow::Next) {
      known_.fill(std::nullopt);  // another path may join after a branch; a call clobbers
    } else {
      // Most forms write the register in bits 0-4 (a store reads it: forgetting it then
      // costs only a miss, never a wrong address).
      const unsigned rd = i.word & 31;
      known_[rd] = rd == 31 ? std::nullopt : next;  // 31: XZR or SP
    }
  }

 private:
  std::array<std::optional<std::uint64_t>, 32> known_{};
};

}  // namespace

Result<void> walk_arm64(std::span<const std::uint8_t> code, std::uint64_t entry,
                        const InstructionFn& fn) {
  KnownAddresses known;
  for (std::uint64_t off = 0; off < code.size(); off += 4) {
    if (code.size() - off < 4)
      return fail(ErrorKind::Unsupported, "truncated instruction at +" + to_hex(off));
    const Arm64Instruction i = decode_arm64(arm64_word(code, off));
    MachineInstruction m;
    m.offset = off;
    m.address = entry + off;
    m.length = 4;
    m.flow = flow_of(i.op);
    m.target = arm64_branch_target(i, m.address);
    known.step(i, m.address, m);
    if (!fn(m)) break;
  }
  return {};
}

std::optional<std::uint64_t> arm64_stack_check_branch(std::span<const std::uint8_t> code,
                                                      std::uint64_t entry) {
  constexpr std::uint32_t kLoadStackGuard = 0xf9400b90;  // MOVD 16(R28), R16
  constexpr std::uint32_t kCmpR16Rsp = 0xeb3063ff;       // CMP R16, RSP
  constexpr std::uint32_t kCmpR16R17 = 0xeb10023f;       // CMP R16, R17
  if (code.size() < 12 || arm64_word(code, 0) != kLoadStackGuard) return std::nullopt;
  std::uint64_t off = 4;
  if (arm64_word(code, off) == kCmpR16Rsp) {
    off += 4;
  } else {
    // SUB $n, RSP, R17 (n up to 24 bits: one SUB, or SUB with a shifted immediate).
    const std::uint32_t sub = arm64_word(code, off);
    if ((sub & 0xff8003ff) != 0xd10003f1 || code.size() < off + 12 ||
        arm64_word(code, off + 4) != kCmpR16R17)
      return std::nullopt;
    off += 8;
  }
  const Arm64Instruction b = decode_arm64(arm64_word(code, off));
  if (b.op != Arm64Op::BCond || b.cond != 9) return std::nullopt;  // 9: LS (unsigned <=)
  return entry + off;
}

}  // namespace goscry
