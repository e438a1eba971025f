// GoBinary against Go's own tools: probe points of stripped binaries against `go tool nm`
// on the unstripped twin, versions and build settings against `go version [-m]`, the
// table found without section names, and one clear error per kind of bad input.
#include "symbolizer/go_binary.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "symbolizer/probe_points.h"
#include "tests/support/fixtures.h"
#include "tests/support/go_oracles.h"

namespace goscry {
namespace {

using testing::all_fixtures;

std::string twin(const testing::Fixture& f, const std::string& variant) {
  for (const auto& g : all_fixtures(f.name))
    if (g.go_version == f.go_version && g.variant == variant) return g.path;
  return "";
}

TEST(GoBinary, ProbePointsOfStrippedBinariesMatchNmOnTheUnstrippedTwin) {
  int checked = 0;
  for (const auto& f : all_fixtures()) {
    if (f.variant != "stripped") continue;
    SCOPED_TRACE(f.label());
    auto bin = GoBinary::open(f.path);
    ASSERT_TRUE(bin) << bin.error().message;
    EXPECT_TRUE((*bin)->stripped());
    auto nm = testing::go_nm_text(twin(f, "plain"));
    ASSERT_FALSE(nm.empty());
    int found = 0;
    for (const auto& p : probe_points(**bin)) {
      SCOPED_TRACE(p.function);
      auto it = nm.find(p.function);
      if (p.bounds) {
        ++found;
        ASSERT_NE(it, nm.end()) << "goscry found it, nm does not";
        EXPECT_EQ(to_hex(p.bounds->entry), to_hex(it->second));
      } else {
        EXPECT_FALSE(p.missing.empty());
        if (p.missing.rfind("not in this binary", 0) == 0) {
          EXPECT_EQ(it, nm.end());
        }
      }
    }
    EXPECT_GE(found, 8);  // all but the exit hook that does not apply (and casgstatus, maybe)
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(GoBinary, VersionAndBuildSettingsMatchGoVersionM) {
  for (const auto& f : all_fixtures()) {
    SCOPED_TRACE(f.label());
    auto bin = GoBinary::open(f.path);
    ASSERT_TRUE(bin) << bin.error().message;
    ASSERT_TRUE((*bin)->build_info());
    const BuildInfo& bi = *(*bin)->build_info();
    auto r = testing::run_command({testing::go_command(), "version", "-m", f.path});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto lines = testing::split_lines(r.out);
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(bi.go_version, testing::go_version_of(f.path));
    EXPECT_EQ(lines[0], f.path + ": " + bi.go_version);
    std::vector<std::string> want_settings, got_settings;
    for (std::size_t i = 1; i < lines.size(); ++i) {
      const std::string& l = lines[i];
      if (l.rfind("\tpath\t", 0) == 0) {
        EXPECT_EQ(bi.path, l.substr(6));
      }
      if (l.rfind("\tmod\t", 0) == 0) {
        EXPECT_EQ(l.substr(5, l.find('\t', 5) - 5), bi.main_path);
        EXPECT_NE(l.find("\t" + bi.main_version + "\t"), std::string::npos) << l;
      }
      if (l.rfind("\tbuild\t", 0) == 0) want_settings.push_back(l.substr(7));
    }
    for (const auto& [k, v] : bi.settings) got_settings.push_back(k + "=" + v);
    EXPECT_EQ(got_settings, want_settings);
    EXPECT_FALSE(got_settings.empty());
  }
}

// Renames a section in a copy of the file (same length, so nothing else moves).
std::shared_ptr<ElfFile> renamed(const std::string& path,
                                 const std::vector<std::pair<std::string, std::string>>& names) {
  auto elf = ElfFile::open(path);
  EXPECT_TRUE(elf);
  auto all = (*elf)->file_bytes().bytes();
  std::vector<std::uint8_t> bytes(all.begin(), all.end());
  const ElfSection* shstr = (*elf)->section(".shstrtab");
  for (const auto& [from, to] : names) {
    std::string_view hay(reinterpret_cast<const char*>(bytes.data() + shstr->offset), shstr->size);
    auto at = hay.find(std::string(from) + '\0');
    EXPECT_NE(at, std::string_view::npos) << from;
    std::memcpy(bytes.data() + shstr->offset + at, to.data(), to.size());
  }
  auto copy = ElfFile::from_bytes(std::move(bytes), path);
  EXPECT_TRUE(copy);
  return *copy;
}

TEST(GoBinary, FindsTablesWithoutTheirSectionNames) {
  for (const auto& f : all_fixtures("hello")) {
    SCOPED_TRACE(f.label());
    auto plain = GoBinary::open(f.path);
    ASSERT_TRUE(plain);
    auto elf = renamed(f.path, {{".gopclntab", ".xxxxxxxxx"}, {".go.buildinfo", ".xxxxxxxxxxxx"}});
    ASSERT_EQ(elf->section(".gopclntab"), nullptr);
    auto bin = GoBinary::from_elf(elf);
    ASSERT_TRUE(bin) << bin.error().message;
    EXPECT_EQ((*bin)->pclntab_vaddr(), (*plain)->pclntab_vaddr());
    EXPECT_EQ((*bin)->go_version(), (*plain)->go_version());
    auto want = (*plain)->find_function("main.main");
    auto got = (*bin)->find_function("main.main");
    ASSERT_TRUE(want && got);
    EXPECT_EQ(got->entry, want->entry);
    EXPECT_EQ((*bin)->frames(got->entry + 1).front().line, (*plain)->frames(want->entry + 1).front().line);
  }
}

TEST(GoBinary, FunctionBoundsAgreeWithNm) {
  for (const auto& f : all_fixtures("inline")) {
    if (f.variant != "plain") continue;
    SCOPED_TRACE(f.label());
    auto bin = GoBinary::open(f.path);
    ASSERT_TRUE(bin);
    auto nm = testing::go_nm_text(f.path);
    for (const char* name : {"main.main", "main.outerThree", "main.record", "runtime.mallocgc"}) {
      auto b = (*bin)->find_function(name);
      ASSERT_TRUE(b) << name;
      EXPECT_EQ(b->entry, nm.at(name));
      EXPECT_GT(b->end, b->entry);
      auto at = (*bin)->function_at(b->end - 1);
      ASSERT_TRUE(at);
      EXPECT_EQ(at->name, name);
    }
    EXPECT_FALSE((*bin)->find_function("main.noSuchFunction"));
    EXPECT_TRUE((*bin)->frames(0x10).empty());
  }
}

TEST(GoBinary, RejectsANonGoElf) {
  auto b = GoBinary::open("/bin/ls");
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().message, "/bin/ls: not a Go binary (no .gopclntab, no .go.buildinfo)");
}

TEST(GoBinary, RejectsANonElfFile) {
  std::string path = ::testing::TempDir() + "/not-elf.txt";
  std::ofstream(path) << "this is a text file, long enough to have an ELF header's size, but not ELF\n";
  auto b = GoBinary::open(path);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().message, path + ": not an ELF file");
}

TEST(GoBinary, RejectsAMissingFile) {
  auto b = GoBinary::open("/nonexistent/goscry-test");
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().message, "/nonexistent/goscry-test: No such file or directory");
}

}  // namespace
}  // namespace goscry

namespace goscry {
namespace {

// With external linking, C code precedes the Go text: .text's address is not the
// runtime's text start. Once `strip` removes runtime.text from .symtab, `go tool
// addr2line` falls back to .text and is off by that gap; goscry takes the start from
// runtime.moduledata and answers as on the unstripped binary.
TEST(GoBinary, TakesTheTextStartFromModuledataNotTheTextSection) {
  for (const auto& f : all_fixtures("inline")) {
    if (f.variant != "cgo") continue;
    SCOPED_TRACE(f.label());
    std::string stripped = ::testing::TempDir() + "/cgo-stripped";
    auto r = testing::run_command({"strip", "-o", stripped, f.path});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto orig = GoBinary::open(f.path);
    auto bin = GoBinary::open(stripped);
    ASSERT_TRUE(orig && bin);
    EXPECT_TRUE((*bin)->stripped());
    EXPECT_NE((*bin)->text_start(), (*bin)->elf().section(".text")->addr);
    auto nm = testing::go_nm_text(f.path);
    EXPECT_EQ((*bin)->text_start(), nm.at("runtime.text"));
    for (const char* name : {"main.outerThree", "runtime.newproc1", "runtime.mallocgc"}) {
      auto fn = (*bin)->find_function(name);
      ASSERT_TRUE(fn) << name;
      EXPECT_EQ(fn->entry, nm.at(name)) << name;
    }
  }
}

}  // namespace
}  // namespace goscry
