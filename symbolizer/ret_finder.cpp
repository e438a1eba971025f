#include "symbolizer/ret_finder.h"

#include <Zydis/Zydis.h>

namespace goscry {

namespace {

// Go functions are at most a few hundred KiB; a cap keeps a corrupt symbol size from
// asking for gigabytes.
constexpr std::uint64_t kMaxFunctionSize = 16 << 20;

bool is_ret(const ZydisDecodedInstruction& insn) { return insn.mnemonic == ZYDIS_MNEMONIC_RET; }

}  // namespace

Result<FunctionCode> decode_function(std::span<const std::uint8_t> code, const std::string& name) {
  ZydisDecoder decoder;
  if (!ZYAN_SUCCESS(ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64)))
    return fail("Zydis: cannot initialise an x86-64 decoder");
  FunctionCode out;
  std::uint64_t off = 0;
  while (off < code.size()) {
    ZydisDecodedInstruction insn;
    ZyanStatus st = ZydisDecoderDecodeInstruction(&decoder, nullptr, code.data() + off,
                                                  code.size() - off, &insn);
    if (!ZYAN_SUCCESS(st))
      return fail(name + ": undecodable instruction at +" + to_hex(off));
    out.instructions.push_back(off);
    if (is_ret(insn)) out.rets.push_back(off);
    off += insn.length;
  }
  return out;
}

Result<FunctionCode> decode_function(const ElfFile& elf, std::uint64_t entry, std::uint64_t end,
                                     const std::string& name) {
  if (end <= entry || end - entry > kMaxFunctionSize)
    return fail(name + ": implausible function range [" + to_hex(entry) + ", " + to_hex(end) + ")");
  auto bytes = elf.read_vaddr(entry, end - entry);
  if (!bytes) return fail(elf.path() + ": " + name + ": " + bytes.error().message);
  return decode_function(bytes->bytes(), name);
}

}  // namespace goscry
