// ret_finder against objdump: on every function of the unstripped fixtures, the
// instruction boundaries Zydis finds are exactly objdump's, and the RETs are its `ret`s.
#include "symbolizer/ret_finder.h"

#include <elf.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>

#include "symbolizer/elf_file.h"
#include "tests/support/fixtures.h"
#include "tests/support/objdump.h"

namespace goscry {
namespace {

using testing::all_fixtures;
using testing::mnemonics_in;
using testing::objdump_instructions;

std::vector<ElfSymbol> functions(const ElfFile& elf) {
  std::vector<ElfSymbol> out;
  for (const auto& s : elf.symbols())
    if (s.type == STT_FUNC && s.size > 0) out.push_back(s);
  return out;
}

TEST(RetFinder, BoundariesAndRetsMatchObjdumpOnEveryFunction) {
  auto fixtures = all_fixtures("hello");
  ASSERT_FALSE(fixtures.empty());
  for (const auto& f : fixtures) {
    if (f.variant != "plain") continue;
    SCOPED_TRACE(f.label());
    auto elf = ElfFile::open(f.path);
    ASSERT_TRUE(elf) << elf.error().message;
    auto oracle = objdump_instructions(f.path);
    auto funcs = functions(**elf);
    ASSERT_GT(funcs.size(), 1000u);
    std::size_t checked_rets = 0;
    for (const auto& fn : funcs) {
      auto code = decode_function(**elf, fn.value, fn.value + fn.size, fn.name);
      ASSERT_TRUE(code) << code.error().message;
      // Every boundary we find is one of objdump's, and we miss none of objdump's.
      auto theirs = mnemonics_in(oracle, fn.value, fn.value + fn.size);
      ASSERT_EQ(code->instructions.size(), theirs.size()) << fn.name;
      for (auto off : code->instructions)
        ASSERT_TRUE(oracle.count(fn.value + off)) << fn.name << "+" << to_hex(off);
      std::size_t oracle_rets = 0;
      for (const auto& m : theirs) oracle_rets += m.starts_with("ret");
      ASSERT_EQ(code->rets.size(), oracle_rets) << fn.name;
      for (auto off : code->rets) ASSERT_TRUE(oracle[fn.value + off].starts_with("ret")) << fn.name;
      checked_rets += code->rets.size();
    }
    EXPECT_GT(checked_rets, 1000u);
  }
}

TEST(RetFinder, FindsTheReturnsOfTheProbedRuntimeFunctions) {
  for (const auto& f : all_fixtures("hello")) {
    if (f.variant != "plain") continue;
    SCOPED_TRACE(f.label());
    auto elf = ElfFile::open(f.path);
    ASSERT_TRUE(elf);
    for (const auto& s : (*elf)->symbols()) {
      if (s.name != "runtime.newproc1" && s.name != "runtime.startTheWorldWithSema") continue;
      auto code = decode_function(**elf, s.value, s.value + s.size, s.name);
      ASSERT_TRUE(code) << code.error().message;
      EXPECT_GE(code->rets.size(), 1u) << s.name;
      EXPECT_EQ(code->instructions.front(), 0u);
    }
  }
}

TEST(RetFinder, RejectsUndecodableAndTruncatedCode) {
  const std::uint8_t invalid_in_64bit[] = {0x90, 0x06};  // nop; push es (32-bit only)
  auto r = decode_function(invalid_in_64bit, "bad");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "bad: undecodable instruction at +0x1");
  const std::uint8_t truncated[] = {0xc3, 0x48, 0x8b};  // ret; mov r64, (cut)
  EXPECT_FALSE(decode_function(truncated, "cut"));
  const std::uint8_t ok[] = {0x48, 0x89, 0xd8, 0xc3};  // mov %rbx,%rax; ret
  auto good = decode_function(ok, "ok");
  ASSERT_TRUE(good);
  EXPECT_EQ(good->instructions, (std::vector<std::uint64_t>{0, 3}));
  EXPECT_EQ(good->rets, (std::vector<std::uint64_t>{3}));
}

}  // namespace
}  // namespace goscry
