// Pclntab::sp_delta (the pcsp table) against the machine code: objdump's disassembly of a
// function, with the stack pointer's moves (push, pop, sub/add to %rsp) added up from its
// entry to its first ret (or its stack-growth block), must give the table's value at every
// instruction on the way.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "symbolizer/go_binary.h"
#include "tests/support/fixtures.h"

namespace goscry {
namespace {

using testing::all_fixtures;
using testing::run_command;
using testing::split_lines;

struct Insn {
  std::uint64_t addr;
  std::string text;  // "push   %rbp", "sub    $0x18,%rsp"
};

std::vector<Insn> disassemble(const std::string& path, std::uint64_t lo, std::uint64_t hi) {
  char start[32], stop[32];
  std::snprintf(start, sizeof start, "--start-address=0x%llx", static_cast<unsigned long long>(lo));
  std::snprintf(stop, sizeof stop, "--stop-address=0x%llx", static_cast<unsigned long long>(hi));
  auto r = run_command({"objdump", "-d", "--no-show-raw-insn", start, stop, path});
  std::vector<Insn> out;
  for (const auto& line : split_lines(r.out)) {
    auto colon = line.find(":\t");
    if (colon == std::string::npos) continue;
    char* end = nullptr;
    std::uint64_t a = std::strtoull(line.c_str(), &end, 16);
    if (end != line.c_str() + colon) continue;
    out.push_back({a, line.substr(colon + 2)});
  }
  return out;
}

// The SP change of one instruction, in bytes (the frame grows: positive).
int sp_move(const std::string& t) {
  if (t.starts_with("push")) return 8;
  if (t.starts_with("pop")) return -8;
  // objdump prints the sign-extended immediate as 64 bits: a 128-byte frame is made by
  // `add $0xffffffffffffff80,%rsp` (imm8 -128 is shorter than imm32 +128).
  auto imm = [&](const char* op) -> std::int64_t {
    if (!t.starts_with(op) || !t.ends_with(",%rsp")) return 0;
    auto dollar = t.find('$');
    if (dollar == std::string::npos) return 0;
    return static_cast<std::int64_t>(std::strtoull(t.c_str() + dollar + 1, nullptr, 16));
  };
  return static_cast<int>(imm("sub") - imm("add"));
}

TEST(PclntabSpDelta, MatchesTheStackPointerMovesOfTheMachineCode) {
  auto fixtures = all_fixtures("cpuburn");
  ASSERT_FALSE(fixtures.empty());
  for (const auto& f : fixtures) {
    SCOPED_TRACE(f.label());
    auto bin = GoBinary::open(f.path);
    ASSERT_TRUE(bin) << bin.error().message;
    const auto& tab = (*bin)->pclntab();
    // Frameless leaves (0 throughout) and functions with frames of every prologue style.
    for (const char* name : {"main.burnOnce", "main.burnTwice", "main.burn", "main.main",
                             "runtime.main", "fmt.Fprintln"}) {
      SCOPED_TRACE(name);
      auto fn = (*bin)->find_function(name);
      ASSERT_TRUE(fn);
      auto insns = disassemble(f.path, fn->entry, fn->end);
      ASSERT_GT(insns.size(), 3u);
      int sp = 0, checked = 0, max_sp = 0;
      std::uint64_t grow = UINT64_MAX;  // the stack-growth block the prologue jumps to
      for (const auto& in : insns) {
        // That block sits after the body and is entered at SP delta 0 by the prologue's
        // `jbe`; a function that never returns (main.burn) reaches it without a ret.
        if (in.addr >= grow) break;
        if (grow == UINT64_MAX && in.text.starts_with("jbe"))
          grow = std::strtoull(in.text.c_str() + 3, nullptr, 16);
        auto d = tab.sp_delta(in.addr);
        ASSERT_TRUE(d) << std::hex << in.addr;
        EXPECT_EQ(*d, sp) << std::hex << in.addr << " " << in.text;
        ++checked;
        if (in.text.starts_with("ret")) break;
        sp += sp_move(in.text);
        max_sp = std::max(max_sp, sp);
      }
      if (std::string(name).starts_with("main.burn") && name != std::string("main.burn"))
        EXPECT_EQ(max_sp, 0) << "a leaf with a frame: the fixture no longer tests frameless leaves";
      else
        EXPECT_GT(max_sp, 0);
      EXPECT_GT(checked, 3);
    }
  }
}

}  // namespace
}  // namespace goscry
