#include "symbolizer/machine_code.h"

#include <elf.h>

#include "symbolizer/arm64_decode.h"
#include "symbolizer/x86_decode.h"

namespace goscry {

const char* isa_name(Isa isa) { return isa == Isa::Arm64 ? "arm64" : "amd64"; }

std::optional<Isa> isa_of(const ElfFile& elf) {
  if (elf.ptr_size() != 8) return std::nullopt;
  if (elf.machine() == EM_X86_64) return Isa::X86_64;
  if (elf.machine() == EM_AARCH64) return Isa::Arm64;
  return std::nullopt;
}

Result<void> walk_instructions(Isa isa, std::span<const std::uint8_t> code, std::uint64_t entry,
                               const InstructionFn& fn) {
  return isa == Isa::Arm64 ? walk_arm64(code, entry, fn) : walk_x86_64(code, entry, fn);
}

}  // namespace goscry
