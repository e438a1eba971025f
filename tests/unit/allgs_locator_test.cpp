// runtime.allglen / allgptr found from runtime.forEachGRace's machine code (what stripped
// binaries need), checked against `go tool nm` on the same unstripped binary: a stripped
// twin's data moves by a few bytes, so it cannot serve as the oracle. That stripped
// binaries work end to end is checked by goroutine_dump_test.
#include "symbolizer/allgs_locator.h"

#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>

#include "symbolizer/go_binary.h"
#include "tests/support/fixtures.h"

namespace goscry {
namespace {

std::uint64_t nm_address(const std::string& binary, const std::string& symbol) {
  auto r = testing::run_command({testing::go_command(), "tool", "nm", binary});
  for (const auto& line : testing::split_lines(r.out)) {
    char type = 0;
    std::uint64_t addr = 0;
    char name[512];
    if (std::sscanf(line.c_str(), " %" SCNx64 " %c %511s", &addr, &type, name) == 3 &&
        symbol == name)
      return addr;
  }
  ADD_FAILURE() << "go tool nm " << binary << " has no " << symbol;
  return 0;
}

TEST(AllgsLocator, FindsAllglenAndAllgptrInForEachGRaceCodeLikeNm) {
  int checked = 0;
  for (const auto& f : testing::all_fixtures("quiescent")) {
    if (f.variant == "stripped") continue;
    SCOPED_TRACE(f.label());
    auto bin = GoBinary::open(f.path);
    ASSERT_TRUE(bin) << bin.error().message;
    auto fegr = (*bin)->find_function("runtime.forEachGRace");
    ASSERT_TRUE(fegr);
    auto a = locate_allgs_in_code((*bin)->elf(), fegr->entry, fegr->end);
    ASSERT_TRUE(a) << a.error().message;
    EXPECT_EQ(a->source, "runtime.forEachGRace code");
    EXPECT_EQ(a->allglen, nm_address(f.path, "runtime.allglen"));
    EXPECT_EQ(a->allgptr, nm_address(f.path, "runtime.allgptr"));
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(AllgsLocator, UsesSymtabWhenPresent) {
  for (const auto& f : testing::all_fixtures("quiescent")) {
    if (f.variant != "plain") continue;
    auto elf = ElfFile::open(f.path);
    ASSERT_TRUE(elf);
    auto a = locate_allgs(**elf, 0, 0);
    ASSERT_TRUE(a) << a.error().message;
    EXPECT_EQ(a->source, ".symtab");
    EXPECT_EQ(a->allglen, nm_address(f.path, "runtime.allglen")) << f.label();
  }
}

TEST(AllgsLocator, UnrelatedCodeIsAnErrorNotAGuess) {
  const std::uint8_t ret[] = {0xc3};
  auto loads = rip_relative_loads(ret, 0x1000, "ret");
  ASSERT_TRUE(loads);
  EXPECT_TRUE(loads->empty());
  const std::uint8_t junk[] = {0x48, 0x8b};  // a MOV cut short
  EXPECT_FALSE(rip_relative_loads(junk, 0x1000, "junk"));
}

}  // namespace
}  // namespace goscry
