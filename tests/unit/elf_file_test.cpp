#include "symbolizer/elf_file.h"

#include <gtest/gtest.h>

#include "tests/support/fixtures.h"

namespace goscry {
namespace {

using testing::all_fixtures;

TEST(ElfFile, ReadsSectionsOfEveryFixture) {
  auto fixtures = all_fixtures("hello");
  ASSERT_FALSE(fixtures.empty()) << "no fixtures were built";
  for (const auto& f : fixtures) {
    SCOPED_TRACE(f.label());
    auto elf = ElfFile::open(f.path);
    ASSERT_TRUE(elf) << elf.error().message;
    EXPECT_TRUE((*elf)->section(".text") != nullptr);
    EXPECT_FALSE((*elf)->segments().empty());
    bool stripped = f.variant == "stripped";
    EXPECT_EQ((*elf)->has_symtab(), !stripped);
    EXPECT_EQ((*elf)->has_dwarf(), !stripped);
    // Go writes its own build ID note on every binary.
    EXPECT_TRUE((*elf)->go_build_id().has_value());
  }
}

TEST(ElfFile, DecompressesDwarfSections) {
  for (const auto& f : all_fixtures("hello")) {
    if (f.variant == "stripped") continue;
    SCOPED_TRACE(f.label());
    auto elf = ElfFile::open(f.path);
    ASSERT_TRUE(elf);
    const ElfSection* info = (*elf)->section(".debug_info");
    if (info == nullptr) info = (*elf)->section(".zdebug_info");
    ASSERT_NE(info, nullptr);
    auto data = (*elf)->section_data(*info);
    ASSERT_TRUE(data) << data.error().message;
    // A DWARF compilation unit header: unit length, then version 2..5.
    auto version = data->u16(4);
    ASSERT_TRUE(version);
    EXPECT_GE(*version, 2);
    EXPECT_LE(*version, 5);
  }
}

TEST(ElfFile, MapsVirtualAddressesToFileOffsetsAndBack) {
  for (const auto& f : all_fixtures("hello")) {
    SCOPED_TRACE(f.label());
    auto elf = ElfFile::open(f.path);
    ASSERT_TRUE(elf);
    const ElfSection* text = (*elf)->section(".text");
    ASSERT_NE(text, nullptr);
    auto off = (*elf)->vaddr_to_offset(text->addr + 16);
    ASSERT_TRUE(off);
    EXPECT_EQ(*off, text->offset + 16);
    EXPECT_EQ((*elf)->offset_to_vaddr(*off), text->addr + 16);
  }
}

TEST(ElfFile, RejectsWhatIsNotAnElfFile) {
  auto missing = ElfFile::open("/nonexistent/goscry");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "/nonexistent/goscry: No such file or directory");

  auto text = ElfFile::from_bytes({'#', '!', '/', 'b', 'i', 'n', '/', 's', 'h', '\n', 0, 0, 0, 0, 0, 0}, "script");
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().message, "script: not an ELF file");

  auto dir = ElfFile::open("/");
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().message, "/: a directory, not a regular file");
}

TEST(ElfFile, TruncatedCopiesGiveErrorsNotCrashes) {
  auto fixtures = all_fixtures("hello");
  ASSERT_FALSE(fixtures.empty());
  auto elf = ElfFile::open(fixtures.front().path);
  ASSERT_TRUE(elf);
  auto whole = (*elf)->file_bytes().bytes();
  for (std::size_t len : {std::size_t(4), std::size_t(63), std::size_t(64), std::size_t(4096), whole.size() / 2}) {
    auto cut = ElfFile::from_bytes(std::vector<std::uint8_t>(whole.begin(), whole.begin() + len), "cut");
    if (!cut) continue;  // an error value is a fine answer
    for (const auto& s : (*cut)->sections()) (void)(*cut)->section_data(s);
    (void)(*cut)->symbols();
  }
}

}  // namespace
}  // namespace goscry
