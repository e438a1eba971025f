#include "symbolizer/runtime_globals.h"

#include <Zydis/Zydis.h>
#include <elf.h>

namespace goscry {

namespace {

constexpr std::uint64_t kMaxFunctionSize = 1 << 20;  // forEachGRace is ~100 bytes

std::optional<std::uint64_t> data_symbol(const ElfFile& elf, std::string_view name) {
  for (const auto& s : elf.symbols())
    if (s.type == STT_OBJECT && s.name == name) return s.value;
  return std::nullopt;
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
    if (insn.mnemonic == ZYDIS_MNEMONIC_MOV && insn.operand_count_visible == 2 &&
        ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER && ops[1].type == ZYDIS_OPERAND_TYPE_MEMORY &&
        ops[1].mem.base == ZYDIS_REGISTER_RIP && ops[1].mem.index == ZYDIS_REGISTER_NONE) {
      ZyanU64 target = 0;
      if (ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&insn, &ops[1], entry + off, &target)))
        out.push_back(target);
    }
    off += insn.length;
  }
  return out;
}

Result<AllgAddresses> find_allg(const ElfFile& elf, std::optional<CodeRange> for_each_g_race) {
  auto len = data_symbol(elf, "runtime.allglen");
  auto ptr = data_symbol(elf, "runtime.allgptr");
  if (len && ptr) return AllgAddresses{*len, *ptr, ".symtab"};
  if (!for_each_g_race)
    return fail(elf.path() + ": cannot locate runtime.allglen: no .symtab and no "
                "runtime.forEachGRace");
  const auto [entry, end] = *for_each_g_race;
  if (end <= entry || end - entry > kMaxFunctionSize)
    return fail(elf.path() + ": runtime.forEachGRace: implausible range [" + to_hex(entry) +
                ", " + to_hex(end) + ")");
  auto bytes = elf.read_vaddr(entry, end - entry);
  if (!bytes) return fail(elf.path() + ": runtime.forEachGRace: " + bytes.error().message);
  auto loads = rip_relative_loads(bytes->bytes(), entry, "runtime.forEachGRace");
  if (!loads) return fail(elf.path() + ": " + loads.error().message);
  if (loads->size() < 2 || (*loads)[0] == (*loads)[1])
    return fail(elf.path() + ": runtime.forEachGRace does not load allglen and allgptr as "
                "goscry expects");
  return AllgAddresses{(*loads)[0], (*loads)[1], "runtime.forEachGRace code"};
}

}  // namespace goscry
