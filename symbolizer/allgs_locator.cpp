#include "symbolizer/allgs_locator.h"

#include <Zydis/Zydis.h>
#include <elf.h>

#include <optional>

namespace goscry {

namespace {

constexpr std::uint64_t kMaxFunctionSize = 1 << 16;  // forEachGRace is ~150 bytes

std::optional<std::uint64_t> data_symbol(const ElfFile& elf, std::string_view name) {
  for (const auto& s : elf.symbols())
    if (s.type == STT_OBJECT && s.name == name) return s.value;
  return std::nullopt;
}

bool is_rip_load(const ZydisDecodedInstruction& insn, const ZydisDecodedOperand* ops) {
  return insn.mnemonic == ZYDIS_MNEMONIC_MOV && insn.operand_count_visible == 2 &&
         ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER && ops[1].type == ZYDIS_OPERAND_TYPE_MEMORY &&
         ops[1].mem.base == ZYDIS_REGISTER_RIP && ops[1].mem.index == ZYDIS_REGISTER_NONE &&
         ops[1].size == 64;
}

}  // namespace

Result<std::vector<std::uint64_t>> rip_relative_loads(std::span<const std::uint8_t> code,
                                                      std::uint64_t entry,
                                                      const std::string& name) {
  ZydisDecoder decoder;
  if (!ZYAN_SUCCESS(ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64)))
    return fail("Zydis: cannot initialise an x86-64 decoder");
  std::vector<std::uint64_t> out;
  std::uint64_t off = 0;
  while (off < code.size()) {
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoder, code.data() + off, code.size() - off,
                                             &insn, ops)))
      return fail(name + ": undecodable instruction at +" + to_hex(off));
    ZyanU64 target = 0;
    if (is_rip_load(insn, ops) &&
        ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&insn, &ops[1], entry + off, &target)))
      out.push_back(target);
    off += insn.length;
  }
  return out;
}

Result<AllgsAddresses> locate_allgs(const ElfFile& elf, std::uint64_t entry, std::uint64_t end) {
  auto len = data_symbol(elf, "runtime.allglen");
  auto ptr = data_symbol(elf, "runtime.allgptr");
  if (len && ptr) return AllgsAddresses{*len, *ptr, ".symtab"};
  return locate_allgs_in_code(elf, entry, end);
}

Result<AllgsAddresses> locate_allgs_in_code(const ElfFile& elf, std::uint64_t entry,
                                            std::uint64_t end) {
  if (entry == 0 || end <= entry || end - entry > kMaxFunctionSize)
    return fail(elf.path() + ": cannot locate runtime.allglen: no .symtab and no usable "
                "runtime.forEachGRace");
  auto bytes = elf.read_vaddr(entry, end - entry);
  if (!bytes) return fail(elf.path() + ": runtime.forEachGRace: " + bytes.error().message);
  auto loads = rip_relative_loads(bytes->bytes(), entry, "runtime.forEachGRace");
  if (!loads) return fail(elf.path() + ": " + loads.error().message);
  if (loads->size() < 2 || (*loads)[0] == (*loads)[1])
    return fail(elf.path() + ": runtime.forEachGRace does not load allglen and allgptr the "
                "way goscry expects (a Go release newer than 1.27?)");
  return AllgsAddresses{(*loads)[0], (*loads)[1], "runtime.forEachGRace code"};
}

}  // namespace goscry
