// The probe plan of each fixture, checked against objdump without attaching anything: no
// uprobe option ever asks for a return probe, every probe sits on an instruction boundary,
// RET probes sit on `ret`s, entry probes on function entries, the creation probes in the
// callers of newproc1 and the exit probe on the JBE of the stack check (cheaper: emulated,
// see symbolizer/emulated_probes.h), and the exit / STW probes are those of the binary's
// Go release (docs/go-runtime.md "Where the probes sit").
#include "agent/probes/attacher.h"

#include <elf.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>

#include "symbolizer/runtime_layout.h"
#include "tests/support/fixtures.h"
#include "tests/support/objdump.h"

namespace goscry {
namespace {

using testing::all_fixtures;
using testing::mnemonics_in;
using testing::objdump_instructions;

const ElfSymbol* function_at(const ElfFile& elf, std::uint64_t vaddr) {
  for (const auto& s : elf.symbols())
    if (s.type == STT_FUNC && vaddr >= s.value && vaddr < s.value + s.size) return &s;
  return nullptr;
}

bool is_ret_program(RuntimeProgram p) {
  return p == RuntimeProgram::StwStopRet ||
         p == RuntimeProgram::StwStartRet || p == RuntimeProgram::GcPauseEnd;
}

TEST(Attacher, UprobeOptionsNeverAskForAReturnProbe) {
  bpf_uprobe_opts opts = entry_uprobe_opts();
  EXPECT_FALSE(opts.retprobe);
  EXPECT_EQ(opts.sz, sizeof(bpf_uprobe_opts));
  EXPECT_EQ(opts.func_name, nullptr);
}

TEST(Attacher, EveryProbeSitsOnAnInstructionOfTheRightFunction) {
  auto fixtures = all_fixtures("churn");
  ASSERT_FALSE(fixtures.empty());
  for (const auto& f : fixtures) {
    if (f.variant != "plain" && f.variant != "pie") continue;
    SCOPED_TRACE(f.label());
    auto elf = ElfFile::open(f.path);
    ASSERT_TRUE(elf) << elf.error().message;
    auto sym = GoBinary::from_elf(*elf);
    ASSERT_TRUE(sym) << sym.error().message;
    auto plan = plan_probes(**sym, f.path, 4242, f.go_version);
    ASSERT_TRUE(plan) << plan.error().message;
    auto minor = go_minor_version(std::string_view(f.go_version));
    ASSERT_TRUE(minor);
    auto oracle = objdump_instructions(f.path);
    std::map<RuntimeProgram, std::set<std::string>> functions;
    for (const auto& u : plan->uprobes) {
      EXPECT_EQ(u.pid, 4242);
      EXPECT_EQ(u.binary, f.path);
      auto vaddr = (*elf)->offset_to_vaddr(u.file_offset);
      ASSERT_TRUE(vaddr) << to_hex(u.file_offset);
      ASSERT_TRUE(oracle.count(*vaddr)) << program_name(u.program) << " at " << to_hex(*vaddr)
                                        << " is not an instruction boundary";
      const ElfSymbol* fn = function_at(**elf, *vaddr);
      ASSERT_NE(fn, nullptr);
      functions[u.program].insert(fn->name);
      if (u.program == RuntimeProgram::NewprocRet) {
        // After a CALL of newproc1 (emulated_probes_test checks which), RAX = 0 otherwise.
        EXPECT_NE(fn->name, "runtime.newproc1");
        EXPECT_LE(u.cookie, std::uint64_t{GOSCRY_REG_R15});
      } else if (u.program == RuntimeProgram::GoroutineExit) {
        EXPECT_EQ(*vaddr, fn->value + 4) << fn->name;  // the JBE of the stack check
        EXPECT_EQ(oracle[*vaddr], "jbe");
      } else if (u.program == RuntimeProgram::GcStart) {
        // The JBE of the stack check, after a CMP or a LEA + CMP (a frame over 128 bytes).
        EXPECT_LE(*vaddr, fn->value + 12) << fn->name;
        EXPECT_EQ(oracle[*vaddr], "jbe");
      } else if (is_ret_program(u.program))
        EXPECT_TRUE(oracle[*vaddr].starts_with("ret")) << fn->name << " " << oracle[*vaddr];
      else
        EXPECT_EQ(*vaddr, fn->value) << fn->name;
    }
    using P = RuntimeProgram;
    using Names = std::set<std::string>;
    // The exit probe goes in before any creation probe: a goroutine seen created always
    // has its end seen (goroutine_tracker.h).
    ASSERT_FALSE(plan->uprobes.empty());
    EXPECT_EQ(plan->uprobes.front().program, P::GoroutineExit);
    // One read of the g gets goid, gopc and startpc; every goroutine is an event until
    // the agent lowers the threshold.
    const auto& st = plan->settings;
    for (std::uint16_t off : {st.g_goid, st.g_gopc, st.g_startpc}) {
      EXPECT_GE(off, st.g_block_off);
      EXPECT_LE(off + 8, st.g_block_off + 8 * st.g_block_words);
    }
    EXPECT_LE(st.g_block_words, GOSCRY_G_BLOCK_WORDS);
    EXPECT_EQ(st.event_goid_max, ~std::uint64_t(0));
    EXPECT_TRUE(functions[P::NewprocRet].count("runtime.newproc.func1"));
    EXPECT_EQ(functions[P::GoroutineExit],
              Names{*minor >= 22 ? "runtime.gdestroy" : "runtime.goexit0"});
    EXPECT_EQ(functions[P::GcMarkTermination], Names{"runtime.gcMarkTermination"});
    EXPECT_EQ(functions[P::GcStart], Names{"runtime.gcStart"});
    // runtime.gcController found (the plan's address is the link-time one, as nm has it).
    EXPECT_NE(plan->settings.gc_controller_addr, 0u);
    EXPECT_NE(plan->settings.m_curg, GOSCRY_NO_OFFSET);
    EXPECT_EQ(functions[P::StwStartRet], Names{"runtime.startTheWorldWithSema"});
    if (*minor >= 22) {
      EXPECT_EQ(functions[P::StwStopRet], Names{"runtime.stopTheWorldWithSema"});
      EXPECT_EQ(functions[P::StwStartEntry], Names{"runtime.startTheWorldWithSema"});
      EXPECT_TRUE(functions[P::StwStopEntry].empty());
      EXPECT_TRUE(functions[P::GcPauseEnd].empty());
      EXPECT_EQ(plan->settings.stw_abi, GOSCRY_STW_WORLDSTOP);
    } else {
      EXPECT_EQ(functions[P::StwStopEntry], Names{"runtime.stopTheWorldWithSema"});
      EXPECT_TRUE(functions[P::StwStartEntry].empty());
      EXPECT_EQ(functions[P::GcPauseEnd], Names{"runtime.gcControllerCommit"});
      EXPECT_EQ(plan->settings.stw_abi,
                *minor == 21 ? GOSCRY_STW_REASON_ARG : GOSCRY_STW_PREEMPTOFF);
    }
    // Every RET of the returning functions is probed, none forgotten.
    for (const auto& name : {"runtime.startTheWorldWithSema"}) {
      std::size_t rets = 0, probes = 0;
      for (const auto& s : (*elf)->symbols()) {
        if (s.name != name) continue;
        for (const auto& m : mnemonics_in(oracle, s.value, s.value + s.size))
          rets += m.starts_with("ret");
      }
      for (const auto& u : plan->uprobes) {
        auto v = (*elf)->offset_to_vaddr(u.file_offset);
        if (is_ret_program(u.program) && function_at(**elf, *v)->name == name) ++probes;
      }
      EXPECT_EQ(probes, rets) << name;
      EXPECT_GE(rets, 1u) << name;
    }
  }
}

// Function bounds come from the .gopclntab: a stripped binary gets exactly the probes of
// its unstripped twin (same code, same addresses).
TEST(Attacher, StrippedBinariesGetTheProbesOfTheirUnstrippedTwin) {
  std::map<std::string, std::vector<std::uint64_t>> plain_vaddrs;  // by go version
  auto fixtures = all_fixtures("churn");
  for (const std::string variant : {"plain", "stripped"}) {
    for (const auto& f : fixtures) {
      if (f.variant != variant) continue;
      SCOPED_TRACE(f.label());
      auto elf = ElfFile::open(f.path);
      ASSERT_TRUE(elf);
      auto bin = GoBinary::from_elf(*elf);
      ASSERT_TRUE(bin) << bin.error().message;
      auto plan = plan_probes(**bin, f.path, 1, f.go_version);
      ASSERT_TRUE(plan) << plan.error().message;
      std::vector<std::uint64_t> vaddrs;
      for (const auto& u : plan->uprobes) {
        auto v = (*elf)->offset_to_vaddr(u.file_offset);
        ASSERT_TRUE(v);
        vaddrs.push_back(*v);
      }
      if (variant == "plain")
        plain_vaddrs[f.go_version] = vaddrs;
      else
        EXPECT_EQ(vaddrs, plain_vaddrs[f.go_version]);
    }
  }
  EXPECT_FALSE(plain_vaddrs.empty());
}

TEST(Attacher, RefusesGoVersionsItDoesNotKnow) {
  auto fixtures = all_fixtures("hello");
  ASSERT_FALSE(fixtures.empty());
  auto elf = ElfFile::open(fixtures.front().path);
  ASSERT_TRUE(elf);
  auto sym = GoBinary::from_elf(*elf);
  ASSERT_TRUE(sym);
  auto old = plan_probes(**sym, fixtures.front().path, 1, "go1.18.10");
  ASSERT_FALSE(old);
  EXPECT_EQ(old.error().message, "go1.18.10: unsupported Go version (goscry knows 1.19-1.27)");
}

}  // namespace
}  // namespace goscry
