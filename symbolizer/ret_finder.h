// Where a function returns, found by decoding its machine code. goscry never puts a
// uretprobe on Go code (Go copies stacks and dies on a rewritten return address), so a
// "return probe" is an entry uprobe on each RET instruction; a uprobe must sit on an
// instruction boundary, so the boundaries come with the RETs. amd64 and arm64
// (machine_code.h).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "symbolizer/elf_file.h"
#include "symbolizer/error.h"
#include "symbolizer/machine_code.h"

namespace goscry {

struct FunctionCode {
  std::vector<std::uint64_t> instructions;  // offset of every instruction from the entry
  std::vector<std::uint64_t> rets;          // offsets of the RET instructions (a subset)
};

// Decodes `code` (a whole function, entry first) as `isa`. Fails on bytes that do not
// decode, or on an instruction that runs past the end; `name` is used in messages.
Result<FunctionCode> decode_function(std::span<const std::uint8_t> code, const std::string& name,
                                     Isa isa = Isa::X86_64);

// The same for [entry, end) of an ELF file's image (virtual addresses), in the file's
// instruction set.
Result<FunctionCode> decode_function(const ElfFile& elf, std::uint64_t entry, std::uint64_t end,
                                     const std::string& name);

}  // namespace goscry
