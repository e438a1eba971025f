#include "symbolizer/runtime_globals.h"

#include <Zydis/Zydis.h>
#include <elf.h>

#include <set>

namespace goscry {

namespace {

constexpr std::uint64_t kMaxFunctionSize = 1 << 20;  // forEachGRace is ~100 bytes

std::optional<std::uint64_t> data_symbol(const ElfFile& elf, std::string_view name) {
  for (const auto& s : elf.symbols())
    if (s.type == STT_OBJECT && s.name == name) return s.value;
  return std::nullopt;
}

}  // namespace

namespace {

// Calls on_operand(insn, operand, address) for every RIP-relative memory operand.
template <typename F>
Result<void> each_rip_operand(std::span<const std::uint8_t> code, std::uint64_t entry,
                              const std::string& name, F on_operand) {
  ZydisDecoder decoder;
  if (!ZYAN_SUCCESS(ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64)))
    return fail("Zydis: cannot initialise an x86-64 decoder");
  std::uint64_t off = 0;
  while (off < code.size()) {
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoder, code.data() + off, code.size() - off,
                                             &insn, ops)))
      return fail(name + ": undecodable instruction at +" + to_hex(off));
    for (unsigned i = 0; i < insn.operand_count_visible; ++i) {
      if (ops[i].type != ZYDIS_OPERAND_TYPE_MEMORY || ops[i].mem.base != ZYDIS_REGISTER_RIP ||
          ops[i].mem.index != ZYDIS_REGISTER_NONE)
        continue;
      ZyanU64 target = 0;
      if (ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&insn, &ops[i], entry + off, &target)))
        on_operand(insn, ops, i, target);
    }
    off += insn.length;
  }
  return {};
}

}  // namespace

Result<std::vector<std::uint64_t>> rip_relative_targets(std::span<const std::uint8_t> code,
                                                        std::uint64_t entry,
                                                        const std::string& name) {
  std::vector<std::uint64_t> out;
  auto r = each_rip_operand(code, entry, name,
                            [&](const ZydisDecodedInstruction&, const ZydisDecodedOperand*,
                                unsigned, std::uint64_t target) { out.push_back(target); });
  if (!r) return std::unexpected(r.error());
  return out;
}

Result<std::uint64_t> find_runtime_work(const ElfFile& elf,
                                        std::optional<CodeRange> gc_mark_termination,
                                        int pause_start, int t_end) {
  if (auto w = data_symbol(elf, "runtime.work")) return *w;
  if (!gc_mark_termination)
    return fail(elf.path() + ": cannot locate runtime.work: no .symtab and no "
                "runtime.gcMarkTermination");
  if (pause_start < 0 || t_end < 0)
    return fail(elf.path() + ": runtime.work: no offsets of pauseStart/tEnd");
  const auto [entry, end] = *gc_mark_termination;
  if (end <= entry || end - entry > kMaxFunctionSize)
    return fail(elf.path() + ": runtime.gcMarkTermination: implausible range");
  auto bytes = elf.read_vaddr(entry, end - entry);
  if (!bytes) return fail(elf.path() + ": runtime.gcMarkTermination: " + bytes.error().message);
  // `work.pauseNS += now - work.pauseStart; work.tEnd = now`: a read of pauseStart
  // followed within a few instructions by a write of tEnd, at the same base.
  struct Access {
    std::uint64_t target;
    bool write;
  };
  std::vector<Access> accesses;
  auto r = each_rip_operand(bytes->bytes(), entry, "runtime.gcMarkTermination",
                            [&](const ZydisDecodedInstruction&, const ZydisDecodedOperand* ops,
                                unsigned i, std::uint64_t target) {
                              accesses.push_back(
                                  {target, (ops[i].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) != 0});
                            });
  if (!r) return fail(elf.path() + ": " + r.error().message);
  constexpr std::size_t kNear = 6;  // RIP-relative accesses between the read and the write
  std::set<std::uint64_t> bases;
  for (std::size_t w = 0; w < accesses.size(); ++w) {
    if (!accesses[w].write || accesses[w].target < std::uint64_t(t_end)) continue;
    const std::uint64_t base = accesses[w].target - t_end;
    for (std::size_t k = w > kNear ? w - kNear : 0; k < w; ++k)
      if (!accesses[k].write && accesses[k].target == base + pause_start) bases.insert(base);
  }
  if (bases.size() != 1)
    return fail(elf.path() + ": runtime.gcMarkTermination: " + std::to_string(bases.size()) +
                " candidates for runtime.work");
  return *bases.begin();
}

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
