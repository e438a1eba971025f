#include "symbolizer/runtime_globals.h"

#include <elf.h>

#include <algorithm>
#include <set>

#include "symbolizer/arm64_decode.h"
#include "symbolizer/x86_decode.h"

namespace goscry {

namespace {

constexpr std::uint64_t kMaxFunctionSize = 1 << 20;  // forEachGRace is ~100 bytes

std::optional<std::uint64_t> data_symbol(const ElfFile& elf, std::string_view name) {
  for (const auto& s : elf.symbols())
    if (s.type == STT_OBJECT && s.name == name) return s.value;
  return std::nullopt;
}

// The instruction set of `elf`'s code, or why it has none goscry reads.
Result<Isa> code_isa(const ElfFile& elf) {
  if (auto isa = isa_of(elf)) return *isa;
  return fail(ErrorKind::Unsupported, elf.path() + ": machine code of neither amd64 nor arm64");
}

// Calls on_operand(instruction, operand index, target address) for every RIP-relative
// memory operand.
template <typename F>
Result<void> each_rip_operand(std::span<const std::uint8_t> code, std::uint64_t entry,
                              const std::string& name, F on_operand) {
  auto walked = for_each_instruction(code, entry, [&](const Instruction& d) {
    for (unsigned i = 0; i < d.insn.operand_count_visible; ++i) {
      const ZydisDecodedOperand& op = d.ops[i];
      if (op.type != ZYDIS_OPERAND_TYPE_MEMORY || op.mem.base != ZYDIS_REGISTER_RIP ||
          op.mem.index != ZYDIS_REGISTER_NONE)
        continue;
      ZyanU64 target = 0;
      if (ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&d.insn, &op, d.address, &target)))
        on_operand(d, i, target);
    }
    return true;
  });
  if (!walked) return context(walked.error(), name);
  return {};
}

// The 64-bit register an instruction writes as its first operand (MOVL $16, CX writes RCX).
ZydisRegister written_register(const Instruction& d) {
  if (d.insn.operand_count_visible < 1 || d.ops[0].type != ZYDIS_OPERAND_TYPE_REGISTER)
    return ZYDIS_REGISTER_NONE;
  return ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, d.ops[0].reg.value);
}

bool loads_goid_batch(const Instruction& d) {
  return d.insn.mnemonic == ZYDIS_MNEMONIC_MOV && d.insn.operand_count_visible == 2 &&
         d.ops[1].type == ZYDIS_OPERAND_TYPE_IMMEDIATE && d.ops[1].imm.value.u == 16 &&
         written_register(d) != ZYDIS_REGISTER_NONE;
}

// LOCK XADDQ src, 0(base)
bool adds_to_register_address(const Instruction& d, ZydisRegister src, ZydisRegister base) {
  if (d.insn.mnemonic != ZYDIS_MNEMONIC_XADD || !(d.insn.attributes & ZYDIS_ATTRIB_HAS_LOCK) ||
      d.insn.operand_width != 64 || d.insn.operand_count_visible != 2)
    return false;
  const ZydisDecodedOperand& mem = d.ops[0];
  const ZydisDecodedOperand& reg = d.ops[1];
  return mem.type == ZYDIS_OPERAND_TYPE_MEMORY && mem.mem.base == base &&
         mem.mem.index == ZYDIS_REGISTER_NONE && mem.mem.disp.value == 0 &&
         reg.type == ZYDIS_OPERAND_TYPE_REGISTER &&
         ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, reg.reg.value) == src;
}

}  // namespace

Result<std::vector<std::uint64_t>> rip_relative_targets(std::span<const std::uint8_t> code,
                                                        std::uint64_t entry,
                                                        const std::string& name) {
  std::vector<std::uint64_t> out;
  auto r = each_rip_operand(
      code, entry, name, [&](const Instruction&, unsigned, std::uint64_t t) { out.push_back(t); });
  if (!r) return std::unexpected(r.error());
  return out;
}

Result<std::uint64_t> find_runtime_work(const ElfFile& elf,
                                        std::optional<CodeRange> gc_mark_termination,
                                        int pause_ns, int t_end) {
  if (auto w = data_symbol(elf, "runtime.work")) return *w;
  if (!gc_mark_termination)
    return fail(ErrorKind::Unsupported, elf.path() +
                                            ": cannot locate runtime.work: no .symtab and no "
                                            "runtime.gcMarkTermination");
  auto isa = code_isa(elf);
  if (!isa) return std::unexpected(isa.error());
  if (pause_ns < 0 || t_end < 0)
    return fail(ErrorKind::Unsupported, elf.path() + ": runtime.work: no offsets of pauseNS/tEnd");
  const auto [entry, end] = *gc_mark_termination;
  if (end <= entry || end - entry > kMaxFunctionSize)
    return fail(ErrorKind::Unsupported,
                elf.path() + ": runtime.gcMarkTermination: implausible range");
  auto bytes = elf.read_vaddr(entry, end - entry);
  if (!bytes) return context(bytes.error(), elf.path() + ": runtime.gcMarkTermination");
  // `work.pauseNS += now - <start>; work.tEnd = now`: an add to pauseNS in memory (ADDQ,
  // read and written) followed within a few instructions by a write of tEnd, at one base.
  struct Access {
    std::uint64_t target;
    bool read, write;
  };
  std::vector<Access> accesses;
  Result<void> r;
  if (*isa == Isa::X86_64) {
    r = each_rip_operand(bytes->bytes(), entry, "runtime.gcMarkTermination",
                         [&](const Instruction& d, unsigned i, std::uint64_t target) {
                           const auto actions = d.ops[i].actions;
                           accesses.push_back({target,
                                               bool(actions & ZYDIS_OPERAND_ACTION_MASK_READ),
                                               bool(actions & ZYDIS_OPERAND_ACTION_MASK_WRITE)});
                         });
  } else {
    // arm64 adds in registers: `MOVD pauseNS(R27), Rt; ADD ...; MOVD Rt, pauseNS(R27)`, a
    // load and a store of one address a few accesses apart, which count as one add. Go
    // 1.26 stores tEnd and pauseNS (the next word) with one STP: each word is an access,
    // the last first, so that the add of pauseNS comes before the write of tEnd as it does
    // in every other release.
    r = walk_instructions(*isa, bytes->bytes(), entry, [&](const MachineInstruction& m) {
      if (m.pc_relative_load) accesses.push_back({*m.pc_relative_load, true, false});
      if (!m.pc_relative_store) return true;
      const std::size_t before = accesses.size();
      std::vector<std::uint64_t> words;  // the last first
      for (std::uint64_t off = 0; off < m.store_bytes; off += 8)
        words.insert(words.begin(), *m.pc_relative_store + off);
      for (const std::uint64_t at : words) {
        bool read = false;
        for (std::size_t k = before; k > 0 && before - k < 3; --k)
          read |= accesses[k - 1].read && accesses[k - 1].target == at;
        accesses.push_back({at, read, true});
      }
      return true;
    });
    if (!r) r = context(r.error(), "runtime.gcMarkTermination");
  }
  if (!r) return context(r.error(), elf.path());
  constexpr std::size_t kNear = 6;  // RIP-relative accesses between the read and the write
  std::set<std::uint64_t> bases;
  for (std::size_t w = 0; w < accesses.size(); ++w) {
    if (!accesses[w].write || accesses[w].target < std::uint64_t(t_end)) continue;
    const std::uint64_t base = accesses[w].target - t_end;
    for (std::size_t k = w > kNear ? w - kNear : 0; k < w; ++k)
      if (accesses[k].read && accesses[k].write && accesses[k].target == base + pause_ns)
        bases.insert(base);
  }
  if (bases.size() != 1)
    return fail(ErrorKind::Unsupported,
                elf.path() + ": runtime.gcMarkTermination: " + std::to_string(bases.size()) +
                    " candidates for runtime.work");
  return *bases.begin();
}

Result<std::vector<std::uint64_t>> rip_relative_loads(std::span<const std::uint8_t> code,
                                                      std::uint64_t entry,
                                                      const std::string& name) {
  // MOV reg, [rip+disp]: the RIP-relative operand is the source.
  std::vector<std::uint64_t> out;
  auto r = each_rip_operand(
      code, entry, name, [&](const Instruction& d, unsigned i, std::uint64_t target) {
        if (i == 1 && d.insn.mnemonic == ZYDIS_MNEMONIC_MOV && d.insn.operand_count_visible == 2 &&
            d.ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER)
          out.push_back(target);
      });
  if (!r) return std::unexpected(r.error());
  return out;
}

Result<std::vector<std::uint64_t>> pc_relative_loads(Isa isa, std::span<const std::uint8_t> code,
                                                     std::uint64_t entry,
                                                     const std::string& name) {
  if (isa == Isa::X86_64) return rip_relative_loads(code, entry, name);
  std::vector<std::uint64_t> out;
  auto walked = walk_instructions(isa, code, entry, [&](const MachineInstruction& m) {
    if (m.pc_relative_load) out.push_back(*m.pc_relative_load);
    return true;
  });
  if (!walked) return context(walked.error(), name);
  return out;
}

namespace {

// The `index`th RIP-relative load of a function, or an error naming the function.
Result<std::uint64_t> nth_load(const ElfFile& elf, std::optional<CodeRange> range,
                               const std::string& name, std::size_t index) {
  if (!range)
    return fail(ErrorKind::Unsupported,
                elf.path() + ": no .symtab and no " + name + " in the .gopclntab");
  const auto [entry, end] = *range;
  if (end <= entry || end - entry > kMaxFunctionSize)
    return fail(ErrorKind::Unsupported, elf.path() + ": " + name + ": implausible range [" +
                                            to_hex(entry) + ", " + to_hex(end) + ")");
  auto bytes = elf.read_vaddr(entry, end - entry);
  if (!bytes) return context(bytes.error(), elf.path() + ": " + name);
  auto isa = code_isa(elf);
  if (!isa) return std::unexpected(isa.error());
  auto loads = pc_relative_loads(*isa, bytes->bytes(), entry, name);
  if (!loads) return context(loads.error(), elf.path());
  if (loads->size() <= index)
    return fail(ErrorKind::Unsupported, elf.path() + ": " + name +
                                            " does not load the heap profile's globals as "
                                            "goscry expects");
  return (*loads)[index];
}

}  // namespace

Result<HeapProfileAddresses> find_heap_profile(const ElfFile& elf, const HeapProfileCode& code) {
  auto buckets = data_symbol(elf, "runtime.mbuckets");
  auto rate = data_symbol(elf, "runtime.MemProfileRate");
  auto cycle = data_symbol(elf, "runtime.mProfCycle");
  if (buckets && rate && cycle) return HeapProfileAddresses{*buckets, *rate, *cycle, ".symtab"};
  return heap_profile_from_code(elf, code);
}

namespace {

// The machine code of a function named by the pclntab, bounded.
Result<std::vector<std::uint8_t>> function_code(const ElfFile& elf, std::optional<CodeRange> range,
                                                const std::string& name) {
  if (!range)
    return fail(ErrorKind::Unsupported,
                elf.path() + ": no .symtab and no " + name + " in the .gopclntab");
  const auto [entry, end] = *range;
  if (end <= entry || end - entry > kMaxFunctionSize)
    return fail(ErrorKind::Unsupported, elf.path() + ": " + name + ": implausible range [" +
                                            to_hex(entry) + ", " + to_hex(end) + ")");
  auto bytes = elf.read_vaddr(entry, end - entry);
  if (!bytes) return context(bytes.error(), elf.path() + ": " + name);
  auto span = bytes->bytes();
  return std::vector<std::uint8_t>(span.begin(), span.end());
}

// The targets of `LEAQ sym(SB), R` (when `lea`) or of `CMPQ sym(SB), $0`, in program order.
Result<std::vector<std::uint64_t>> rip_operands_of(const ElfFile& elf,
                                                   std::optional<CodeRange> range,
                                                   const std::string& name, bool lea) {
  auto code = function_code(elf, range, name);
  if (!code) return std::unexpected(code.error());
  std::vector<std::uint64_t> out;
  auto r = each_rip_operand(*code, range->entry, name,
                            [&](const Instruction& d, unsigned i, std::uint64_t target) {
                              const bool is_lea = d.insn.mnemonic == ZYDIS_MNEMONIC_LEA && i == 1;
                              const bool is_cmp0 =
                                  d.insn.mnemonic == ZYDIS_MNEMONIC_CMP && i == 0 &&
                                  d.insn.operand_count_visible == 2 &&
                                  d.ops[1].type == ZYDIS_OPERAND_TYPE_IMMEDIATE &&
                                  d.ops[1].imm.value.u == 0;
                              if (lea ? is_lea : is_cmp0) out.push_back(target);
                            });
  if (!r) return context(r.error(), elf.path());
  return out;
}

}  // namespace

Result<ContentionProfileAddresses> contention_profile_from_code(
    const ElfFile& elf, const ContentionProfileCode& code) {
  auto isa = code_isa(elf);
  if (!isa) return std::unexpected(isa.error());
  if (*isa != Isa::X86_64)
    return fail(ErrorKind::Unsupported,
                elf.path() + ": no .symtab; the block and mutex profiles' globals are found in "
                             "amd64 code only");
  auto leas = rip_operands_of(elf, code.stkbucket, "runtime.stkbucket", true);
  if (!leas) return std::unexpected(leas.error());
  auto cmps = rip_operands_of(elf, code.semacquire1, "runtime.semacquire1", false);
  if (!cmps) return std::unexpected(cmps.error());
  auto m = std::find(leas->begin(), leas->end(), code.mbuckets);
  if (m == leas->end() || leas->end() - m < 3 || cmps->size() < 2)
    return fail(ErrorKind::Unsupported,
                elf.path() + ": runtime.stkbucket / runtime.semacquire1 do not name the block "
                             "and mutex profiles' globals as goscry expects");
  ContentionProfileAddresses a{m[2], m[1], (*cmps)[0], (*cmps)[1], std::nullopt, "runtime code"};
  const std::set<std::uint64_t> distinct{a.bbuckets, a.xbuckets, a.block_rate, a.mutex_rate,
                                         code.mbuckets};
  if (distinct.size() != 5)
    return fail(ErrorKind::Unsupported,
                elf.path() + ": the block and mutex profiles' globals found in the runtime's "
                             "code are not distinct");
  return a;
}

Result<ContentionProfileAddresses> find_contention_profile(const ElfFile& elf,
                                                           const ContentionProfileCode& code) {
  auto b = data_symbol(elf, "runtime.bbuckets");
  auto x = data_symbol(elf, "runtime.xbuckets");
  auto br = data_symbol(elf, "runtime.blockprofilerate");
  auto mr = data_symbol(elf, "runtime.mutexprofilerate");
  if (b && x && br && mr)
    return ContentionProfileAddresses{*b, *x, *br, *mr, data_symbol(elf, "runtime.ticks"),
                                      ".symtab"};
  return contention_profile_from_code(elf, code);
}

Result<HeapProfileAddresses> heap_profile_from_code(const ElfFile& elf,
                                                    const HeapProfileCode& code) {
  auto b = nth_load(elf, code.mprof_flush_locked, "runtime.mProf_FlushLocked", 0);
  if (!b) return std::unexpected(b.error());
  auto c = nth_load(elf, code.mprof_free, "runtime.mProf_Free", 0);
  if (!c) return std::unexpected(c.error());
  auto mcache0 = nth_load(elf, code.profilealloc, "runtime.profilealloc", 0);
  auto r = nth_load(elf, code.profilealloc, "runtime.profilealloc", 1);
  if (!r) return std::unexpected(r.error());
  if (*b == *c || *r == *b || *r == *c || (mcache0 && *mcache0 == *r))
    return fail(ErrorKind::Unsupported,
                elf.path() +
                    ": the heap profile's globals found in the runtime's code are not "
                    "distinct");
  return HeapProfileAddresses{*b, *r, *c, "runtime code"};
}

namespace {

// The arm64 form of `sched.goidgen.Add(_GoidCacheBatch)` (docs/go-runtime.md "arm64"):
//   MOVD $16, Rk; ADRP page, Rn; ADD $off, Rn, Rn;
//   then LDADDALD Rk, Rt, (Rn)  or  LDAXR (Rn), Rt; ADD Rk, Rt, Rt  (the LL/SC loop)
// (Go emits both and picks one by the CPU's LSE atomics at run time): page + off of each.
std::set<std::uint64_t> arm64_goid_batch_adds(std::span<const std::uint8_t> code,
                                               std::uint64_t entry) {
  std::set<std::uint64_t> found;
  auto at = [&](std::uint64_t off) { return decode_arm64(arm64_word(code, off)); };
  for (std::uint64_t off = 0; off + 20 <= code.size(); off += 4) {
    const Arm64Instruction batch = at(off), page = at(off + 4), add = at(off + 8);
    if (batch.op != Arm64Op::MovImm || batch.imm != 16 || page.op != Arm64Op::Adrp ||
        add.op != Arm64Op::AddImm || add.rn != page.rd || add.rd != page.rd)
      continue;
    const unsigned k = batch.rd, n = page.rd;
    const Arm64Instruction atomic = at(off + 12), next = at(off + 16);
    const bool lse = atomic.op == Arm64Op::LdAddAl && atomic.rn == n && atomic.rm == k;
    const bool llsc = atomic.op == Arm64Op::Ldaxr && atomic.rn == n &&
                      next.op == Arm64Op::AddReg && next.rm == k && next.rn == atomic.rd;
    if (lse || llsc)
      found.insert(((entry + off + 4) & ~0xfffull) + static_cast<std::uint64_t>(page.imm) +
                   static_cast<std::uint64_t>(add.imm));
  }
  return found;
}

}  // namespace

Result<std::uint64_t> find_goid_generator(const ElfFile& elf, CodeRange newproc1) {
  auto isa = code_isa(elf);
  if (!isa) return std::unexpected(isa.error());
  const auto [entry, end] = newproc1;
  if (end <= entry || end - entry > kMaxFunctionSize)
    return fail(ErrorKind::Unsupported, elf.path() + ": runtime.newproc1: implausible range [" +
                                            to_hex(entry) + ", " + to_hex(end) + ")");
  auto bytes = elf.read_vaddr(entry, end - entry);
  if (!bytes) return context(bytes.error(), elf.path() + ": runtime.newproc1");
  if (*isa == Isa::Arm64) {
    auto found = arm64_goid_batch_adds(bytes->bytes(), entry);
    if (found.size() != 1)
      return fail(ErrorKind::Unsupported, elf.path() + ": runtime.newproc1: " +
                                              std::to_string(found.size()) +
                                              " candidates for runtime.sched.goidgen");
    return *found.begin();
  }
  // The three instructions in a row: MOVL $16, R1; LEAQ target(SB), R2; LOCK XADDQ R1, 0(R2).
  std::set<std::uint64_t> found;
  ZydisRegister batch = ZYDIS_REGISTER_NONE, base = ZYDIS_REGISTER_NONE;
  std::uint64_t target = 0;
  auto walked = for_each_instruction(bytes->bytes(), entry, [&](const Instruction& d) {
    if (base != ZYDIS_REGISTER_NONE && adds_to_register_address(d, batch, base))
      found.insert(target);
    const bool lea_after_batch = batch != ZYDIS_REGISTER_NONE &&
                                 d.insn.mnemonic == ZYDIS_MNEMONIC_LEA &&
                                 d.ops[1].mem.base == ZYDIS_REGISTER_RIP;
    ZyanU64 t = 0;
    if (lea_after_batch &&
        ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&d.insn, &d.ops[1], d.address, &t))) {
      base = written_register(d);
      target = t;
      return true;
    }
    base = ZYDIS_REGISTER_NONE;
    batch = loads_goid_batch(d) ? written_register(d) : ZYDIS_REGISTER_NONE;
    return true;
  });
  if (!walked) return context(walked.error(), elf.path() + ": runtime.newproc1");
  if (found.size() != 1)
    return fail(ErrorKind::Unsupported, elf.path() +
                                            ": runtime.newproc1: " + std::to_string(found.size()) +
                                            " candidates for runtime.sched.goidgen");
  return *found.begin();
}

Result<AllgAddresses> find_allg(const ElfFile& elf, std::optional<CodeRange> for_each_g_race) {
  auto len = data_symbol(elf, "runtime.allglen");
  auto ptr = data_symbol(elf, "runtime.allgptr");
  if (len && ptr) return AllgAddresses{*len, *ptr, ".symtab"};
  if (!for_each_g_race)
    return fail(ErrorKind::Unsupported, elf.path() +
                                            ": cannot locate runtime.allglen: no .symtab and no "
                                            "runtime.forEachGRace");
  const auto [entry, end] = *for_each_g_race;
  if (end <= entry || end - entry > kMaxFunctionSize)
    return fail(ErrorKind::Unsupported, elf.path() + ": runtime.forEachGRace: implausible range [" +
                                            to_hex(entry) + ", " + to_hex(end) + ")");
  auto bytes = elf.read_vaddr(entry, end - entry);
  if (!bytes) return context(bytes.error(), elf.path() + ": runtime.forEachGRace");
  auto isa = code_isa(elf);
  if (!isa) return std::unexpected(isa.error());
  auto loads = pc_relative_loads(*isa, bytes->bytes(), entry, "runtime.forEachGRace");
  if (!loads) return context(loads.error(), elf.path());
  if (loads->size() < 2 || (*loads)[0] == (*loads)[1])
    return fail(ErrorKind::Unsupported,
                elf.path() +
                    ": runtime.forEachGRace does not load allglen and allgptr as "
                    "goscry expects");
  return AllgAddresses{(*loads)[0], (*loads)[1], "runtime.forEachGRace code"};
}

Result<std::uint64_t> find_gc_controller(const ElfFile& elf,
                                         std::optional<CodeRange> gc_controller_commit,
                                         std::uint64_t commit_entry) {
  if (auto c = data_symbol(elf, "runtime.gcController")) return *c;
  if (!gc_controller_commit || !commit_entry)
    return fail(ErrorKind::Unsupported,
                elf.path() + ": cannot locate runtime.gcController: no .symtab and no "
                             "runtime.gcControllerCommit / (*gcControllerState).commit");
  const auto [entry, end] = *gc_controller_commit;
  if (end <= entry || end - entry > kMaxFunctionSize)
    return fail(ErrorKind::Unsupported,
                elf.path() + ": runtime.gcControllerCommit: implausible range");
  auto bytes = elf.read_vaddr(entry, end - entry);
  if (!bytes) return context(bytes.error(), elf.path() + ": runtime.gcControllerCommit");
  std::optional<std::uint64_t> receiver, found;
  auto walked = for_each_instruction(bytes->bytes(), entry, [&](const Instruction& d) {
    ZyanU64 t = 0;
    if (d.insn.mnemonic == ZYDIS_MNEMONIC_LEA && d.ops[1].mem.base == ZYDIS_REGISTER_RIP &&
        written_register(d) == ZYDIS_REGISTER_RAX &&
        ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&d.insn, &d.ops[1], d.address, &t))) {
      receiver = t;
      return true;
    }
    if (d.insn.mnemonic == ZYDIS_MNEMONIC_CALL && d.ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE &&
        ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&d.insn, &d.ops[0], d.address, &t)) &&
        t == commit_entry) {
      found = receiver;
      return false;
    }
    if (written_register(d) == ZYDIS_REGISTER_RAX) receiver.reset();
    return true;
  });
  if (!walked) return context(walked.error(), elf.path() + ": runtime.gcControllerCommit");
  if (!found)
    return fail(ErrorKind::Unsupported, elf.path() +
                                            ": runtime.gcControllerCommit does not pass "
                                            "runtime.gcController to commit as goscry expects");
  return *found;
}

Result<std::uint64_t> find_sched(const ElfFile& elf, std::optional<CodeRange> newproc1,
                                 int goidgen_offset) {
  if (auto s = data_symbol(elf, "runtime.sched")) return *s;
  if (!newproc1)
    return fail(ErrorKind::Unsupported,
                elf.path() + ": cannot locate runtime.sched: no .symtab and no runtime.newproc1");
  if (goidgen_offset < 0)
    return fail(ErrorKind::Unsupported,
                elf.path() + ": cannot locate runtime.sched: no offset of schedt.goidgen");
  auto goidgen = find_goid_generator(elf, *newproc1);
  if (!goidgen) return std::unexpected(goidgen.error());
  return *goidgen - std::uint64_t(goidgen_offset);
}

namespace {

// The first address A of `targets` (among the first few) that is followed, within them, by
// A + 8 or preceded by it: a slice header's pointer and length read together.
std::optional<std::uint64_t> first_slice_header(const std::vector<std::uint64_t>& targets) {
  constexpr std::size_t kLookahead = 4;  // allpLock's LEA, allp, allp+8 (either order)
  const std::size_t n = std::min(targets.size(), kLookahead);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j)
      if (targets[j] == targets[i] + 8) return targets[i];
  return std::nullopt;
}

}  // namespace

Result<std::uint64_t> find_allp(const ElfFile& elf, std::optional<CodeRange> retake) {
  if (auto a = data_symbol(elf, "runtime.allp")) return *a;
  if (!retake)
    return fail(ErrorKind::Unsupported,
                elf.path() + ": cannot locate runtime.allp: no .symtab and no runtime.retake");
  auto isa = code_isa(elf);
  if (!isa) return std::unexpected(isa.error());
  const auto [entry, end] = *retake;
  if (end <= entry || end - entry > kMaxFunctionSize)
    return fail(ErrorKind::Unsupported, elf.path() + ": runtime.retake: implausible range");
  auto bytes = elf.read_vaddr(entry, end - entry);
  if (!bytes) return context(bytes.error(), elf.path() + ": runtime.retake");
  // amd64 compares the length in memory (CMPQ runtime.allp+8(SB), AX): every operand counts.
  auto targets = *isa == Isa::X86_64
                     ? rip_relative_targets(bytes->bytes(), entry, "runtime.retake")
                     : pc_relative_loads(*isa, bytes->bytes(), entry, "runtime.retake");
  if (!targets) return context(targets.error(), elf.path());
  if (auto a = first_slice_header(*targets)) return *a;
  return fail(ErrorKind::Unsupported,
              elf.path() + ": runtime.retake: no slice header among its first globals (allp)");
}

}  // namespace goscry
