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

}  // namespace goscry
