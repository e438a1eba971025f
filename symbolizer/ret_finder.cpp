#include "symbolizer/ret_finder.h"

#include "symbolizer/x86_decode.h"

namespace goscry {

namespace {

// Go functions are at most a few hundred KiB; a cap keeps a corrupt symbol size from
// asking for gigabytes.
constexpr std::uint64_t kMaxFunctionSize = 16 << 20;

bool is_ret(const ZydisDecodedInstruction& insn) { return insn.mnemonic == ZYDIS_MNEMONIC_RET; }

}  // namespace

Result<FunctionCode> decode_function(std::span<const std::uint8_t> code, const std::string& name) {
  FunctionCode out;
  auto walked = for_each_instruction(code, 0, [&](const Instruction& i) {
    out.instructions.push_back(i.offset);
    if (is_ret(i.insn)) out.rets.push_back(i.offset);
    return true;
  });
  if (!walked) return context(walked.error(), name);
  return out;
}

Result<FunctionCode> decode_function(const ElfFile& elf, std::uint64_t entry, std::uint64_t end,
                                     const std::string& name) {
  if (end <= entry || end - entry > kMaxFunctionSize)
    return fail(ErrorKind::Unsupported,
                name + ": implausible function range [" + to_hex(entry) + ", " + to_hex(end) + ")");
  auto bytes = elf.read_vaddr(entry, end - entry);
  if (!bytes) return context(bytes.error(), elf.path() + ": " + name);
  return decode_function(bytes->bytes(), name);
}

}  // namespace goscry
