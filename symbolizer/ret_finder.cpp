#include "symbolizer/ret_finder.h"


namespace goscry {

namespace {

// Go functions are at most a few hundred KiB; a cap keeps a corrupt symbol size from
// asking for gigabytes.
constexpr std::uint64_t kMaxFunctionSize = 16 << 20;

}  // namespace

Result<FunctionCode> decode_function(std::span<const std::uint8_t> code, const std::string& name,
                                     Isa isa) {
  FunctionCode out;
  auto walked = walk_instructions(isa, code, 0, [&](const MachineInstruction& i) {
    out.instructions.push_back(i.offset);
    if (i.flow == Flow::Return) out.rets.push_back(i.offset);
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
  auto isa = isa_of(elf);
  if (!isa)
    return fail(ErrorKind::Unsupported, elf.path() + ": " + name +
                                            ": machine code of neither amd64 nor arm64");
  auto bytes = elf.read_vaddr(entry, end - entry);
  if (!bytes) return context(bytes.error(), elf.path() + ": " + name);
  return decode_function(bytes->bytes(), name, *isa);
}

}  // namespace goscry
