// The cheaper probe places (symbolizer/emulated_probes.h) against Go's own disassembler:
// the CALLs of runtime.newproc1 are exactly those `go tool objdump` lists, each result probe
// sits on an instruction boundary of the caller, after the CALL, on an instruction the
// kernel emulates; the exit probe is the JBE of gdestroy's / goexit0's stack check. The
// probes' values themselves are checked live by tests/bpf/runtime_probes_test.cpp (exact
// created/exited counts need the right register).
#include "symbolizer/emulated_probes.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "tests/support/fixtures.h"

namespace goscry {
namespace {

using testing::all_fixtures;

// address -> "MNEMONIC operands" of every instruction of the functions `go tool objdump
// -s REGEX` prints.
std::map<std::uint64_t, std::string> go_objdump(const std::string& path, const std::string& re) {
  auto r = testing::run_command({testing::go_command(), "tool", "objdump", "-s", re, path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::map<std::uint64_t, std::string> out;
  for (const auto& line : testing::split_lines(r.out)) {
    // "  proc.go:4878\t\t0x43f95a\t\te841000000\t\tCALL runtime.newproc1(SB)\t\t"
    std::istringstream in(line);
    std::string pos, addr, bytes;
    if (!(in >> pos >> addr >> bytes) || !addr.starts_with("0x")) continue;
    std::string rest;
    std::getline(in, rest);
    auto b = rest.find_first_not_of(" \t"), e = rest.find_last_not_of(" \t");
    out[std::stoull(addr, nullptr, 16)] = b == std::string::npos ? "" : rest.substr(b, e - b + 1);
  }
  return out;
}

std::span<const std::uint8_t> code_of(const GoBinary& bin, const FuncBounds& f) {
  auto bytes = bin.elf().read_vaddr(f.entry, f.end - f.entry);
  EXPECT_TRUE(bytes);
  return bytes ? bytes->bytes() : std::span<const std::uint8_t>{};
}

TEST(EmulatedProbes, FindsEveryCallOfNewproc1AndACheapPlaceAfterIt) {
  auto fixtures = all_fixtures("churn");
  ASSERT_FALSE(fixtures.empty());
  for (const auto& f : fixtures) {
    if (f.variant != "plain" && f.variant != "pie") continue;
    SCOPED_TRACE(f.label());
    auto bin = GoBinary::open(f.path);
    ASSERT_TRUE(bin) << bin.error().message;
    auto newproc1 = (*bin)->find_function("runtime.newproc1");
    ASSERT_TRUE(newproc1);
    auto runtime = go_objdump(f.path, "^runtime\\.");
    std::set<std::uint64_t> oracle;
    for (const auto& [addr, text] : runtime)
      if (text == "CALL runtime.newproc1(SB)") oracle.insert(addr);
    ASSERT_FALSE(oracle.empty());
    auto calls = runtime_calls_to(**bin, newproc1->entry);
    ASSERT_TRUE(calls) << calls.error().message;
    EXPECT_EQ(std::set<std::uint64_t>(calls->begin(), calls->end()), oracle);
    for (auto call : *calls) {
      auto caller = (*bin)->function_at(call);
      ASSERT_TRUE(caller);
      auto p = result_after_call(code_of(**bin, *caller), caller->entry, call);
      ASSERT_TRUE(p) << caller->name << ": " << p.error().message;
      ASSERT_TRUE(runtime.count(p->vaddr)) << caller->name << " " << to_hex(p->vaddr)
                                           << " is not an instruction boundary";
      EXPECT_GT(p->vaddr, call);
      EXPECT_LT(p->vaddr, caller->end);
      const std::string& insn = runtime[p->vaddr];
      SCOPED_TRACE(caller->name + " " + insn + " " + gp_reg_name(p->reg));
      // Stepped is the return site itself, with RAX (debugCallWrap.func1 stores the g to
      // its frame at once: a debugger's call, rare).
      if (p->cost == ProbeCost::Stepped) {
        EXPECT_EQ(p->vaddr, std::next(runtime.find(call))->first);
        EXPECT_EQ(p->reg, GpReg::Rax);
      }
      if (p->cost == ProbeCost::Nop5) {
        EXPECT_TRUE(insn.starts_with("NOPL")) << insn;
      }
      // newproc.func1 passes the new g on: runqput(pp, newg, true), newg in RBX.
      if (caller->name == "runtime.newproc.func1") {
        EXPECT_EQ(p->reg, GpReg::Rbx);
        EXPECT_NE(p->cost, ProbeCost::Stepped);
        if (p->cost == ProbeCost::Emulated) {
          EXPECT_EQ(insn, "CALL runtime.runqput(SB)");
        }
      }
    }
  }
}

TEST(EmulatedProbes, TheExitProbeIsTheJumpOfTheStackCheck) {
  for (const auto& f : all_fixtures("churn")) {
    if (f.variant != "plain" && f.variant != "pie") continue;
    SCOPED_TRACE(f.label());
    auto bin = GoBinary::open(f.path);
    ASSERT_TRUE(bin) << bin.error().message;
    const char* name = (*bin)->go_minor() >= 22 ? "runtime.gdestroy" : "runtime.goexit0";
    auto fn = (*bin)->find_function(name);
    ASSERT_TRUE(fn);
    auto jcc = stack_check_branch(code_of(**bin, *fn), fn->entry);
    ASSERT_TRUE(jcc) << name;
    auto listing = go_objdump(f.path, std::string("^") + name + "$");
    EXPECT_EQ(listing.begin()->second, "CMPQ SP, 0x10(R14)");
    EXPECT_EQ(*jcc, std::next(listing.begin())->first);
    EXPECT_TRUE(listing[*jcc].starts_with("JBE ")) << listing[*jcc];
  }
}

// Hand-made code: the shapes the runtime has, and the ones that must not be taken.
TEST(EmulatedProbes, FollowsTheValueThroughMovesAndStopsWhereItMust) {
  // call +0; mov rdx,[r14+0x30]; mov rbx,rax; mov eax,1; [nop5]; call +0
  const std::vector<std::uint8_t> head = {0xe8, 0, 0, 0, 0, 0x49, 0x8b, 0x56, 0x30,
                                          0x48, 0x89, 0xc3, 0xb8, 1, 0, 0, 0};
  const std::vector<std::uint8_t> nop5 = {0x0f, 0x1f, 0x44, 0x00, 0x00}, call = {0xe8, 0, 0, 0, 0};
  auto join = [](std::vector<std::uint8_t> a, const std::vector<std::uint8_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  const std::uint64_t entry = 0x1000;
  auto with_nop = join(join(head, nop5), call);
  auto p = result_after_call(with_nop, entry, entry);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->vaddr, entry + head.size());
  EXPECT_EQ(p->cost, ProbeCost::Nop5);
  EXPECT_EQ(p->reg, GpReg::Rbx);  // RAX was overwritten by `mov eax, 1`

  auto plain = join(head, call);
  p = result_after_call(plain, entry, entry);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->vaddr, entry + head.size());
  EXPECT_EQ(p->cost, ProbeCost::Emulated);
  EXPECT_EQ(p->reg, GpReg::Rbx);

  // The value is lost before any emulated instruction: the stepped return site, RAX.
  std::vector<std::uint8_t> lost = {0xe8, 0, 0, 0, 0, 0xb8, 1, 0, 0, 0};  // call; mov eax,1
  lost = join(lost, call);
  p = result_after_call(lost, entry, entry);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->vaddr, entry + 5);
  EXPECT_EQ(p->cost, ProbeCost::Stepped);
  EXPECT_EQ(p->reg, GpReg::Rax);

  // A jump lands between the CALL and the emulated one: never past a branch target.
  // call; mov rbx,rax; jmp -5 (to the mov); call
  std::vector<std::uint8_t> joined = {0xe8, 0, 0, 0, 0, 0x48, 0x89, 0xc3, 0xeb, 0xfb};
  joined = join(joined, call);
  p = result_after_call(joined, entry, entry);
  ASSERT_FALSE(p);  // the return site itself is the target

  // No instruction after the CALL.
  EXPECT_FALSE(result_after_call(call, entry, entry));
}

TEST(EmulatedProbes, KnowsWhatTheKernelEmulates) {
  using B = std::vector<std::uint8_t>;
  auto cost = [](const B& b) { return probe_cost(b); };
  EXPECT_EQ(cost({0x0f, 0x1f, 0x44, 0x00, 0x00}), ProbeCost::Nop5);
  EXPECT_EQ(cost({0x90}), ProbeCost::Emulated);
  EXPECT_EQ(cost({0x66, 0x90}), ProbeCost::Emulated);
  EXPECT_EQ(cost({0x0f, 0x1f, 0x00}), ProbeCost::Emulated);
  EXPECT_EQ(cost({0xe8, 1, 2, 3, 4}), ProbeCost::Emulated);        // call rel32
  EXPECT_EQ(cost({0x76, 0x10}), ProbeCost::Emulated);              // jbe rel8
  EXPECT_EQ(cost({0x0f, 0x86, 1, 2, 3, 4}), ProbeCost::Emulated);  // jbe rel32
  EXPECT_EQ(cost({0xeb, 0x10}), ProbeCost::Emulated);              // jmp rel8
  EXPECT_EQ(cost({0x55}), ProbeCost::Emulated);                    // push rbp
  EXPECT_EQ(cost({0x41, 0x56}), ProbeCost::Emulated);              // push r14
  EXPECT_EQ(cost({0x49, 0x3b, 0x66, 0x10}), ProbeCost::Stepped);   // cmp rsp,[r14+0x10]
  EXPECT_EQ(cost({0xc3}), ProbeCost::Stepped);                     // ret
  EXPECT_EQ(cost({0xff, 0xd0}), ProbeCost::Stepped);               // call rax
  EXPECT_EQ(cost({0x48, 0x89, 0xc3}), ProbeCost::Stepped);         // mov rbx,rax
  EXPECT_EQ(cost({0x06}), ProbeCost::Stepped);                     // undecodable
}

TEST(EmulatedProbes, StackCheckShapes) {
  using B = std::vector<std::uint8_t>;
  // cmp rsp,[r14+0x10]; jbe rel32
  B small = {0x49, 0x3b, 0x66, 0x10, 0x0f, 0x86, 0x10, 0, 0, 0, 0x55};
  EXPECT_EQ(stack_check_branch(small, 0x2000), 0x2004u);
  // lea r12,[rsp-0x100]; cmp r12,[r14+0x10]; jbe rel8
  B big = {0x4c, 0x8d, 0xa4, 0x24, 0x00, 0xff, 0xff, 0xff, 0x4d, 0x3b, 0x66, 0x10, 0x76, 0x10};
  EXPECT_EQ(stack_check_branch(big, 0x2000), 0x200cu);
  // no stack check (NOSPLIT): push rbp; mov rbp,rsp
  EXPECT_EQ(stack_check_branch(B{0x55, 0x48, 0x89, 0xe5}, 0x2000), std::nullopt);
  // cut short
  EXPECT_EQ(stack_check_branch(B{0x49, 0x3b, 0x66, 0x10}, 0x2000), std::nullopt);
}

}  // namespace
}  // namespace goscry
