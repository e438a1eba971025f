// goscry's symbolizer on arm64 Go programs, read as files on this amd64 host
// (docs/go-runtime.md "arm64"): the instruction decoder against `go tool objdump` (which
// reads every GOARCH), the probe points against `go tool nm` and objdump, the runtime
// globals of stripped builds against the symbols of their unstripped twins. The fixtures
// are the few built for GOARCH=arm64 by every toolchain of the run (scripts/build-fixtures.sh).
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "symbolizer/arm64_decode.h"
#include "symbolizer/emulated_probes.h"
#include "symbolizer/go_binary.h"
#include "symbolizer/pclntab.h"
#include "symbolizer/probe_points.h"
#include "symbolizer/ret_finder.h"
#include "symbolizer/runtime_globals.h"
#include "symbolizer/runtime_layout.h"
#include "tests/support/fixtures.h"
#include "tests/support/go_oracles.h"
#include "tests/support/objdump.h"

namespace goscry {
namespace {

using testing::Fixture;
using testing::GoObjdumpLine;

std::vector<Fixture> arm64_fixtures(const std::string& name, const std::string& variant) {
  std::vector<Fixture> out;
  for (auto& f : testing::all_fixtures(name, "arm64"))
    if (variant.empty() || f.variant == variant) out.push_back(std::move(f));
  return out;
}

std::string twin(const Fixture& f, const std::string& variant) {
  for (const auto& g : arm64_fixtures(f.name, variant))
    if (g.go_version == f.go_version) return g.path;
  return "";
}

std::shared_ptr<GoBinary> open_binary(const Fixture& f) {
  auto bin = GoBinary::open(f.path);
  EXPECT_TRUE(bin) << f.label() << ": " << bin.error().message;
  return bin ? *bin : nullptr;
}

std::span<const std::uint8_t> code_of(const GoBinary& bin, const FuncBounds& fn) {
  auto bytes = bin.elf().read_vaddr(fn.entry, fn.end - fn.entry);
  EXPECT_TRUE(bytes) << fn.name;
  return bytes ? bytes->bytes() : std::span<const std::uint8_t>();
}

// What Go's disassembler says an instruction is, in the decoder's terms: only the forms the
// decoder must tell apart; every other text is Other.
Arm64Op op_of_text(const std::string& text) {
  const std::string m = text.substr(0, text.find(' '));
  static const std::set<std::string> kConds = {"BEQ", "BNE", "BCS", "BHS", "BCC", "BLO",
                                               "BMI", "BPL", "BVS", "BVC", "BHI", "BLS",
                                               "BGE", "BLT", "BGT", "BLE"};
  if (m == "RET") return Arm64Op::Ret;
  if (m == "CALL") return text.find(" (R") != std::string::npos ? Arm64Op::Blr : Arm64Op::Bl;
  if (m == "JMP") return text.find(" (R") != std::string::npos ? Arm64Op::Br : Arm64Op::B;
  if (kConds.count(m)) return Arm64Op::BCond;
  if (m == "CBZ" || m == "CBNZ" || m == "CBZW" || m == "CBNZW") return Arm64Op::Cbz;
  if (m == "TBZ" || m == "TBNZ") return Arm64Op::Tbz;
  if (m == "ADRP") return Arm64Op::Adrp;
  return Arm64Op::Other;
}

// The target objdump prints: "BLS 32(PC)" (instructions from here) or "CALL sym(SB)".
std::optional<std::uint64_t> text_target(const GoObjdumpLine& l,
                                         const std::map<std::string, std::uint64_t>& nm) {
  const auto sp = l.text.rfind(' ');
  const std::string arg = l.text.substr(sp + 1);
  if (arg.ends_with("(PC)"))
    return l.address + static_cast<std::uint64_t>(std::stoll(arg.substr(0, arg.size() - 4)) * 4);
  if (arg.ends_with("(SB)")) {
    auto it = nm.find(arg.substr(0, arg.size() - 4));
    if (it != nm.end()) return it->second;
  }
  return std::nullopt;
}

std::uint32_t word_at(const ElfFile& elf, std::uint64_t vaddr) {
  auto b = elf.read_vaddr(vaddr, 4);
  EXPECT_TRUE(b);
  return b ? arm64_word(b->bytes(), 0) : 0;
}

TEST(Arm64Decode, ClassifiesEveryInstructionAsGoToolObjdumpDoes) {
  auto fixtures = arm64_fixtures("hello", "plain");
  ASSERT_FALSE(fixtures.empty()) << "no arm64 fixtures were built";
  for (const auto& f : fixtures) {
    SCOPED_TRACE(f.label());
    auto bin = open_binary(f);
    ASSERT_TRUE(bin);
    auto nm = testing::go_nm_text(f.path);
    auto lines = testing::go_objdump(f.path);
    ASSERT_GT(lines.size(), 50000u);
    std::map<Arm64Op, int> seen;
    int mismatches = 0, targets = 0, constants = 0;
    for (const auto& l : lines) {
      const std::uint32_t w = word_at(bin->elf(), l.address);
      ASSERT_EQ(w, std::stoul(l.hex, nullptr, 16)) << to_hex(l.address) << " " << l.text;
      const Arm64Instruction i = decode_arm64(w);
      Arm64Op want = op_of_text(l.text);
      // Forms decoded beyond the branch family: their text must fit.
      Arm64Op got = i.op;
      if (got == Arm64Op::MovImm) {
        EXPECT_NE(l.text.find("$" + std::to_string(i.imm) + ","), std::string::npos)
            << to_hex(l.address) << " " << l.text;
        ++constants;
        got = Arm64Op::Other;
      } else if (got == Arm64Op::Load) {
        EXPECT_TRUE(l.text.starts_with("MOV") || l.text.starts_with("LDAR"))
            << to_hex(l.address) << " " << l.text;
        got = Arm64Op::Other;
      } else if (got == Arm64Op::MovReg) {
        EXPECT_TRUE(l.text.starts_with("MOVD R") || l.text.starts_with("MOVD ZR"))
            << to_hex(l.address) << " " << l.text;
        got = Arm64Op::Other;
      } else if (got == Arm64Op::StorePair) {
        EXPECT_TRUE(l.text.starts_with("STP (")) << to_hex(l.address) << " " << l.text;
        got = Arm64Op::Other;
      } else if (got == Arm64Op::Store) {
        EXPECT_TRUE(l.text.starts_with("MOV")) << to_hex(l.address) << " " << l.text;
        got = Arm64Op::Other;
      } else if (got == Arm64Op::AddReg) {
        EXPECT_TRUE(l.text.starts_with("ADD R")) << to_hex(l.address) << " " << l.text;
        got = Arm64Op::Other;
      } else if (got == Arm64Op::Ldaxr) {
        EXPECT_TRUE(l.text.starts_with("LDAXR (")) << to_hex(l.address) << " " << l.text;
        got = Arm64Op::Other;
      } else if (got == Arm64Op::LdAddAl) {
        // Go's disassembler prints no LSE atomics (the "?" of f8e8012a).
        EXPECT_TRUE(l.text == "?" || l.text.starts_with("LDADDAL"))
            << to_hex(l.address) << " " << l.text;
        got = Arm64Op::Other;
      } else if (got == Arm64Op::AddImm) {
        EXPECT_TRUE(l.text.starts_with("ADD $") || (i.imm == 0 && l.text.starts_with("MOVD")))
            << to_hex(l.address) << " " << l.text;
        got = Arm64Op::Other;
      } else if (got == Arm64Op::Udf) {
        EXPECT_TRUE(l.text == "?" || l.text.starts_with("BRK") || l.text.starts_with("UNDEF"))
            << to_hex(l.address) << " " << l.text;
        got = Arm64Op::Other;
      }
      ++seen[i.op];
      if (got != want && ++mismatches <= 10)
        ADD_FAILURE() << to_hex(l.address) << " " << l.hex << " " << l.text << ": decoded as op "
                      << int(i.op);
      if (auto t = text_target(l, nm); t && got == want && want != Arm64Op::Other) {
        EXPECT_EQ(arm64_branch_target(i, l.address), t) << to_hex(l.address) << " " << l.text;
        ++targets;
      }
    }
    EXPECT_EQ(mismatches, 0);
    // Every form occurs in the runtime, so each comparison above was made.
    for (Arm64Op op :
         {Arm64Op::Ret, Arm64Op::Bl, Arm64Op::B, Arm64Op::BCond, Arm64Op::Cbz, Arm64Op::Tbz,
          Arm64Op::Br, Arm64Op::Blr, Arm64Op::Adrp, Arm64Op::AddImm, Arm64Op::Load, Arm64Op::Store,
          Arm64Op::StorePair, Arm64Op::MovImm, Arm64Op::MovReg, Arm64Op::AddReg, Arm64Op::Ldaxr,
          Arm64Op::LdAddAl, Arm64Op::Udf})
      EXPECT_GT(seen[op], 0) << "op " << int(op);
    EXPECT_GT(targets, 10000);
    EXPECT_GT(constants, 1000);
  }
}

TEST(Arm64Decode, RetFinderFindsTheRetsGoToolObjdumpPrints) {
  for (const auto& f : arm64_fixtures("hello", "plain")) {
    SCOPED_TRACE(f.label());
    auto bin = open_binary(f);
    ASSERT_TRUE(bin);
    std::set<std::uint64_t> rets;  // every RET objdump prints
    for (const auto& l : testing::go_objdump(f.path))
      if (l.text == "RET" || l.text.starts_with("RET ")) rets.insert(l.address);  // RET R27 too
    // Every function of the pclntab (by address: objdump names ABI wrappers and assembly
    // alike, the pclntab without the .abi0 suffix).
    const Pclntab& tab = bin->pclntab();
    std::size_t checked = 0;
    for (std::size_t i = 0; i < tab.num_functions(); ++i) {
      const std::string name(tab.name(i));
      if (name.starts_with("go:")) continue;  // markers (go:textfipsstart), no code
      auto code = decode_function(bin->elf(), tab.entry(i), tab.end(i), name);
      ASSERT_TRUE(code) << code.error().message;
      std::set<std::uint64_t> got,
          want(rets.lower_bound(tab.entry(i)), rets.lower_bound(tab.end(i)));
      for (auto off : code->rets) got.insert(tab.entry(i) + off);
      EXPECT_EQ(got, want) << name;
      EXPECT_EQ(code->instructions.size(), (tab.end(i) - tab.entry(i)) / 4) << name;
      checked += got.size();
    }
    EXPECT_GT(checked, 1000u);
  }
}

TEST(Arm64Decode, WalksOnlyWholeWords) {
  const std::uint8_t cut[] = {0xc0, 0x03, 0x5f, 0xd6, 0x1f, 0x20};  // RET; 2 bytes
  auto r = decode_function(cut, "cut", Isa::Arm64);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "cut: truncated instruction at +0x4");
  const std::uint8_t ok[] = {0x1f, 0x20, 0x03, 0xd5, 0xc0, 0x03, 0x5f, 0xd6};  // NOP; RET
  auto good = decode_function(ok, "ok", Isa::Arm64);
  ASSERT_TRUE(good) << good.error().message;
  EXPECT_EQ(good->instructions, (std::vector<std::uint64_t>{0, 4}));
  EXPECT_EQ(good->rets, (std::vector<std::uint64_t>{4}));
}

TEST(Arm64ProbePoints, MatchGoToolNmInEveryVariant) {
  int checked = 0;
  for (const auto& f : testing::all_fixtures("", "arm64")) {
    SCOPED_TRACE(f.label());
    auto bin = open_binary(f);
    ASSERT_TRUE(bin);
    EXPECT_EQ(bin->stripped(), f.variant == "stripped");
    // Stripping keeps the code where it was: the unstripped twin's symbols are the oracle.
    auto nm = testing::go_nm_text(f.variant == "stripped" ? twin(f, "plain") : f.path);
    ASSERT_FALSE(nm.empty());
    int found = 0;
    for (const auto& p : probe_points(*bin)) {
      SCOPED_TRACE(p.function);
      auto it = nm.find(p.function);
      if (p.bounds) {
        ++found;
        ASSERT_NE(it, nm.end()) << "goscry found it, nm does not";
        EXPECT_EQ(to_hex(p.bounds->entry), to_hex(it->second));
      } else if (p.missing.starts_with("not in this binary")) {
        EXPECT_EQ(it, nm.end());
      }
    }
    EXPECT_GE(found, 8);
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(Arm64ProbePoints, TheExitProbeIsTheBranchOfTheStackCheck) {
  int checked = 0;
  for (const auto& f : testing::all_fixtures("hello", "arm64")) {
    if (f.variant == "stripped") continue;  // objdump needs the symbols; the code is the same
    SCOPED_TRACE(f.label());
    auto bin = open_binary(f);
    ASSERT_TRUE(bin);
    const char* exit_fn = bin->go_minor() >= 22 ? "runtime.gdestroy" : "runtime.goexit0";
    auto fn = bin->find_function(exit_fn);
    ASSERT_TRUE(fn) << exit_fn;
    auto lines = testing::go_objdump(f.path, std::string("^") + exit_fn + "$");
    ASSERT_GE(lines.size(), 3u);
    EXPECT_EQ(lines[0].text, "MOVD 16(R28), R16");
    EXPECT_EQ(lines[1].text, "CMP R16, RSP");
    EXPECT_TRUE(lines[2].text.starts_with("BLS ")) << lines[2].text;
    auto branch = stack_check_branch(Isa::Arm64, code_of(*bin, *fn), fn->entry);
    ASSERT_TRUE(branch);
    EXPECT_EQ(to_hex(*branch), to_hex(lines[2].address));
    // A function without Go's prologue (assembly) has no such branch.
    auto asm_fn = bin->find_function("runtime.goexit");
    ASSERT_TRUE(asm_fn);
    EXPECT_EQ(stack_check_branch(Isa::Arm64, code_of(*bin, *asm_fn), asm_fn->entry), std::nullopt);
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

// The big-frame prologue, wherever objdump shows it: SUB $n, RSP, R17; CMP R16, R17; BLS.
TEST(Arm64ProbePoints, FindsTheBigFrameStackCheckObjdumpShows) {
  for (const auto& f : arm64_fixtures("hello", "plain")) {
    SCOPED_TRACE(f.label());
    auto bin = open_binary(f);
    ASSERT_TRUE(bin);
    auto lines = testing::go_objdump(f.path);
    int small = 0, big = 0;
    for (std::size_t k = 0; k + 3 < lines.size(); ++k) {
      if (lines[k].text != "MOVD 16(R28), R16" ||
          (k > 0 && lines[k - 1].function == lines[k].function))
        continue;  // only a function's first instruction
      auto fn = bin->find_function(lines[k].function);
      if (!fn || fn->entry != lines[k].address) continue;
      const bool is_big =
          lines[k + 1].text.starts_with("SUB $") && lines[k + 1].text.ends_with(", RSP, R17") &&
          lines[k + 2].text == "CMP R16, R17" && lines[k + 3].text.starts_with("BLS ");
      const bool is_small =
          lines[k + 1].text == "CMP R16, RSP" && lines[k + 2].text.starts_with("BLS ");
      if (!is_big && !is_small) continue;
      auto branch = stack_check_branch(Isa::Arm64, code_of(*bin, *fn), fn->entry);
      ASSERT_TRUE(branch) << fn->name;
      EXPECT_EQ(*branch, lines[k + (is_big ? 3 : 2)].address) << fn->name;
      (is_big ? big : small)++;
    }
    EXPECT_GT(small, 500);
    EXPECT_GT(big, 5);
  }
}

TEST(Arm64ProbePoints, CallsOfNewproc1AreTheCallsGoToolObjdumpPrints) {
  int checked = 0;
  for (const auto& f : testing::all_fixtures("", "arm64")) {
    if (f.variant == "stripped") continue;
    SCOPED_TRACE(f.label());
    auto bin = open_binary(f);
    ASSERT_TRUE(bin);
    auto newproc1 = bin->find_function("runtime.newproc1");
    ASSERT_TRUE(newproc1);
    std::set<std::uint64_t> want;
    for (const auto& l : testing::go_objdump(f.path, "^runtime\\."))
      if (l.text == "CALL runtime.newproc1(SB)") want.insert(l.address);
    ASSERT_FALSE(want.empty());
    auto calls = runtime_calls_to(*bin, newproc1->entry);
    ASSERT_TRUE(calls) << calls.error().message;
    EXPECT_EQ(std::set<std::uint64_t>(calls->begin(), calls->end()), want);
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

// "section+offset" of a virtual address: stripping moves sections, not what is in them.
std::string place(const ElfFile& elf, std::uint64_t vaddr) {
  for (const auto& s : elf.sections())
    if (s.addr != 0 && vaddr >= s.addr && vaddr < s.addr + s.size)
      return s.name + "+" + to_hex(vaddr - s.addr);
  return "nowhere " + to_hex(vaddr);
}

std::optional<CodeRange> range_of(const GoBinary& bin, const std::string& name) {
  auto fn = bin.find_function(name);
  if (!fn) return std::nullopt;
  return CodeRange{fn->entry, fn->end};
}

TEST(Arm64RuntimeGlobals, FoundInTheCodeTheyAreTheSymbolsOfTheUnstrippedTwin) {
  int checked = 0;
  for (const auto& f : testing::all_fixtures("", "arm64")) {
    SCOPED_TRACE(f.label());
    auto bin = open_binary(f);
    ASSERT_TRUE(bin);
    auto plain = ElfFile::open(f.variant == "stripped" ? twin(f, "plain") : f.path);
    ASSERT_TRUE(plain);
    std::map<std::string, std::uint64_t> data;  // go tool nm's data symbols of the oracle
    auto r = testing::run_command(
        {testing::go_command(), "tool", "nm", f.variant == "stripped" ? twin(f, "plain") : f.path});
    for (const auto& line : testing::split_lines(r.out)) {
      std::istringstream in(line);
      std::string addr, type, name;
      if (in >> addr >> type >> name) data[name] = std::stoull(addr, nullptr, 16);
    }
    // The code path even where .symtab exists, so every variant tests it.
    auto fegr = range_of(*bin, "runtime.forEachGRace");
    ASSERT_TRUE(fegr);
    auto bytes = bin->elf().read_vaddr(fegr->entry, fegr->end - fegr->entry);
    ASSERT_TRUE(bytes);
    auto loads = pc_relative_loads(Isa::Arm64, bytes->bytes(), fegr->entry, "forEachGRace");
    ASSERT_TRUE(loads) << loads.error().message;
    ASSERT_GE(loads->size(), 2u);
    EXPECT_EQ(place(bin->elf(), (*loads)[0]), place(**plain, data.at("runtime.allglen")));
    EXPECT_EQ(place(bin->elf(), (*loads)[1]), place(**plain, data.at("runtime.allgptr")));
    auto found = find_allg(bin->elf(), fegr);
    ASSERT_TRUE(found) << found.error().message;
    EXPECT_EQ(found->source, f.variant == "stripped" ? "runtime.forEachGRace code" : ".symtab");
    EXPECT_EQ(place(bin->elf(), found->allglen), place(**plain, data.at("runtime.allglen")));
    EXPECT_EQ(place(bin->elf(), found->allgptr), place(**plain, data.at("runtime.allgptr")));
    // The heap profile's globals the same way (docs/go-runtime.md "The heap profile").
    HeapProfileCode code{range_of(*bin, "runtime.mProf_FlushLocked"),
                         range_of(*bin, "runtime.mProf_Free"),
                         range_of(*bin, "runtime.profilealloc")};
    auto heap = heap_profile_from_code(bin->elf(), code);
    ASSERT_TRUE(heap) << heap.error().message;
    EXPECT_EQ(place(bin->elf(), heap->mbuckets), place(**plain, data.at("runtime.mbuckets")));
    EXPECT_EQ(place(bin->elf(), heap->mprof_cycle), place(**plain, data.at("runtime.mProfCycle")));
    EXPECT_EQ(place(bin->elf(), heap->mem_profile_rate),
              place(**plain, data.at("runtime.MemProfileRate")));
    // runtime.sched.goidgen (schedt's first field) from newproc1's batch add.
    auto newproc1 = range_of(*bin, "runtime.newproc1");
    ASSERT_TRUE(newproc1);
    auto goidgen = find_goid_generator(bin->elf(), *newproc1);
    ASSERT_TRUE(goidgen) << goidgen.error().message;
    EXPECT_EQ(place(bin->elf(), *goidgen), place(**plain, data.at("runtime.sched")));
    // runtime.work from gcMarkTermination's `work.pauseNS += ...; work.tEnd = now` (the
    // symbol when there is one).
    auto layout = runtime_layout(bin->elf(), bin->go_version());
    ASSERT_TRUE(layout) << layout.error().message;
    auto work = find_runtime_work(bin->elf(), range_of(*bin, "runtime.gcMarkTermination"),
                                  layout->work_pause_ns, layout->work_t_end);
    ASSERT_TRUE(work) << work.error().message;
    EXPECT_EQ(place(bin->elf(), *work), place(**plain, data.at("runtime.work")));
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(Arm64Binary, IsReadAsAFileButRefusedAsAProcess) {
  for (const auto& f : arm64_fixtures("hello", "plain")) {
    SCOPED_TRACE(f.label());
    auto bin = open_binary(f);
    ASSERT_TRUE(bin);
    auto refused = check_architecture(bin->elf());
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().message,
              f.path +
                  ": a GOARCH=arm64 program; goscry reads 64-bit Go programs of its own "
                  "architecture (amd64) only");
    // `goscry symbolize --exe` and `info --exe` read it.
    auto main_fn = bin->find_function("main.main");
    ASSERT_TRUE(main_fn);
    auto want = testing::go_addr2line(f.path, {main_fn->entry});
    auto r = testing::run_command(
        {testing::goscry_binary(), "symbolize", "--exe", f.path, to_hex(main_fn->entry)});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("main.main"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(want[0].file_line), std::string::npos)
        << r.out << " vs " << want[0].file_line;
    auto info = testing::run_command({testing::goscry_binary(), "info", "--exe", f.path});
    EXPECT_EQ(info.exit_code, 0) << info.err;
    EXPECT_NE(info.out.find(f.go_version), std::string::npos) << info.out;
  }
}

// `info --format json`'s runtime offsets of arm64 builds against Go's own debug/dwarf
// (tests/tools/dwarfoffsets, not libdw, which goscry uses): with DWARF the offsets it reads;
// stripped, the same numbers from the table adjusted for arm64 (runtime.work).
TEST(Arm64Binary, InfoShowsTheRuntimeOffsetsGosDwarfReaderGives) {
  const std::string helper = ::testing::TempDir() + "/goscry-dwarfoffsets-arm64";
  auto built = testing::run_command({testing::go_command(), "build", "-o", helper,
                                     testing::source_dir() + "/tests/tools/dwarfoffsets/main.go"});
  ASSERT_EQ(built.exit_code, 0) << built.err;
  int checked = 0;
  for (const auto& f : arm64_fixtures("hello", "")) {
    if (f.variant == "pie") continue;
    SCOPED_TRACE(f.label());
    auto r = testing::run_command(
        {testing::goscry_binary(), "info", "--exe", f.path, "--format", "json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto layout = nlohmann::json::parse(r.out)["runtime_layout"];
    ASSERT_GE(layout["fields"].size(), 40u);
    const std::string minor = f.go_version.substr(0, f.go_version.find('.', 4));  // "go1.27"
    EXPECT_EQ(layout["source"], f.variant == "stripped" ? "table (" + minor + ", arm64)" : "DWARF");
    std::string requests;
    for (const auto& field : layout["fields"])
      requests +=
          field["struct"].get<std::string>() + " " + field["member"].get<std::string>() + "\n";
    auto want = testing::run_command({helper, twin(f, "plain")}, requests);
    ASSERT_EQ(want.exit_code, 0) << want.err;
    std::map<std::string, long> offsets;
    for (const auto& line : testing::split_lines(want.out)) {
      std::istringstream in(line);
      std::string type, member, offset;
      in >> type >> member >> offset;
      if (!offset.empty()) offsets[type + " " + member] = std::stol(offset);
    }
    for (const auto& field : layout["fields"]) {
      const std::string key =
          field["struct"].get<std::string>() + " " + field["member"].get<std::string>();
      if (!offsets.count(key)) continue;  // a struct's size (empty member path)
      const long got = field["offset"].is_null() ? -1 : field["offset"].get<long>();
      EXPECT_EQ(got, offsets.at(key)) << key;
      ++checked;
    }
  }
  EXPECT_GT(checked, 100);
}

}  // namespace
}  // namespace goscry
