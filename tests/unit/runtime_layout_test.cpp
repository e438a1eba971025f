#include "symbolizer/runtime_layout.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "tests/support/fixtures.h"

namespace goscry {
namespace {

using testing::all_fixtures;
using testing::Fixture;
using testing::run_command;

std::vector<Fixture> with_dwarf(const std::string& goarch = "") {
  std::vector<Fixture> out;
  for (const auto& f : all_fixtures("", goarch))
    if (f.variant != "stripped") out.push_back(f);
  return out;
}

Result<RuntimeLayout> dwarf_layout(const std::string& path) {
  auto elf = ElfFile::open(path);
  if (!elf) return std::unexpected(elf.error());
  return layout_from_dwarf(**elf);
}

// The checked-in table must say what each fixture's own DWARF says, field by field and name
// by name.
void expect_table_equals_dwarf(const std::vector<Fixture>& fixtures) {
  ASSERT_FALSE(fixtures.empty()) << "no fixtures were built";
  for (const auto& f : fixtures) {
    SCOPED_TRACE(f.label());
    auto dwarf = dwarf_layout(f.path);
    ASSERT_TRUE(dwarf) << dwarf.error().message;
    EXPECT_EQ(dwarf->source, "DWARF");
    auto table = layout_from_table(f.go_version, f.goarch == "arm64" ? Isa::Arm64 : Isa::X86_64);
    ASSERT_TRUE(table) << table.error().message;
    auto want = layout_fields(*dwarf), got = layout_fields(*table);
    ASSERT_EQ(want.size(), got.size());
    for (std::size_t i = 0; i < want.size(); ++i)
      EXPECT_EQ(got[i].second, want[i].second) << "field " << want[i].first;
    EXPECT_EQ(table->wait_reasons, dwarf->wait_reasons);
    EXPECT_EQ(table->g_statuses, dwarf->g_statuses);
  }
}

// The "offsets table equals DWARF for every toolchain in the run" check.
TEST(RuntimeLayout, TableEqualsDwarfForEveryToolchain) { expect_table_equals_dwarf(with_dwarf()); }

// One table serves both architectures: arm64's runtime structs have amd64's layout (both
// 64-bit, no field differs by GOARCH in the ones goscry reads), which arm64 builds' DWARF
// must show for every toolchain.
TEST(RuntimeLayout, TableEqualsDwarfOnArm64) { expect_table_equals_dwarf(with_dwarf("arm64")); }

TEST(RuntimeLayout, StrippedBinariesFallBackToTheTable) {
  int seen = 0;
  for (const auto& f : all_fixtures()) {
    if (f.variant != "stripped") continue;
    SCOPED_TRACE(f.label());
    ++seen;
    auto elf = ElfFile::open(f.path);
    ASSERT_TRUE(elf);
    auto dwarf = layout_from_dwarf(**elf);
    ASSERT_FALSE(dwarf);
    EXPECT_NE(dwarf.error().message.find("no DWARF"), std::string::npos);
    auto layout = runtime_layout(**elf, f.go_version);
    ASSERT_TRUE(layout) << layout.error().message;
    auto minor = go_minor_version(std::string_view(f.go_version));
    ASSERT_TRUE(minor);
    EXPECT_EQ(layout->source, "table (go1." + std::to_string(*minor) + ")");
    EXPECT_GT(layout->g_goid, 0);
  }
  EXPECT_GT(seen, 0);
}

TEST(RuntimeLayout, PrefersDwarfWhenPresent) {
  for (const auto& f : with_dwarf()) {
    auto elf = ElfFile::open(f.path);
    ASSERT_TRUE(elf);
    // Even with a version the table does not know, DWARF answers.
    auto layout = runtime_layout(**elf, "devel go1.99-abcdef");
    ASSERT_TRUE(layout) << f.label() << ": " << layout.error().message;
    EXPECT_EQ(layout->source, "DWARF");
  }
}

TEST(RuntimeLayout, ErrorNamesBothCausesWhenNeitherWorks) {
  for (const auto& f : all_fixtures()) {
    if (f.variant != "stripped") continue;
    auto elf = ElfFile::open(f.path);
    ASSERT_TRUE(elf);
    auto layout = runtime_layout(**elf, "devel go1.99-abcdef");
    ASSERT_FALSE(layout);
    EXPECT_NE(layout.error().message.find("no DWARF"), std::string::npos);
    EXPECT_NE(layout.error().message.find("unknown Go version"), std::string::npos);
    return;
  }
}

// An ElfFile made from bytes (no file behind it) gives the same layout as the file.
TEST(RuntimeLayout, ReadsDwarfOfAnImageInMemory) {
  auto fixtures = all_fixtures("hello");
  auto it = std::find_if(fixtures.begin(), fixtures.end(),
                         [](const Fixture& f) { return f.variant == "plain"; });
  ASSERT_NE(it, fixtures.end());
  std::ifstream in(it->path, std::ios::binary);
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
  auto elf = ElfFile::from_bytes(std::move(bytes), "in-memory");
  ASSERT_TRUE(elf) << elf.error().message;
  auto from_bytes = layout_from_dwarf(**elf);
  ASSERT_TRUE(from_bytes) << from_bytes.error().message;
  auto from_file = dwarf_layout(it->path);
  ASSERT_TRUE(from_file);
  EXPECT_EQ(layout_fields(*from_bytes), layout_fields(*from_file));
  EXPECT_EQ(from_bytes->wait_reasons, from_file->wait_reasons);
}

// When the names cannot be read (here: the first string pointer of runtime.waitReasonStrings
// is made to point nowhere) DWARF still gives the offsets, and runtime_layout() takes the
// names from the table and says so.
TEST(RuntimeLayout, TakesNamesFromTheTableWhenTheBinaryArraysAreUnreadable) {
  auto fixtures = all_fixtures("hello");
  auto it = std::find_if(fixtures.begin(), fixtures.end(),
                         [](const Fixture& f) { return f.variant == "plain"; });
  ASSERT_NE(it, fixtures.end());
  auto original = ElfFile::open(it->path);
  ASSERT_TRUE(original);
  std::uint64_t array = 0;
  for (const auto& sym : (*original)->symbols())
    if (sym.name == "runtime.waitReasonStrings") array = sym.value;
  ASSERT_NE(array, 0u);
  auto off = (*original)->vaddr_to_offset(array + 16);  // entry 1: {ptr, len}
  ASSERT_TRUE(off);
  auto span = (*original)->file_bytes().bytes();
  std::vector<std::uint8_t> bytes(span.begin(), span.end());
  for (int i = 0; i < 8; ++i) bytes[*off + i] = 0xee;
  auto elf = ElfFile::from_bytes(std::move(bytes), "patched");
  ASSERT_TRUE(elf);
  auto dwarf = layout_from_dwarf(**elf);
  ASSERT_TRUE(dwarf) << dwarf.error().message;
  EXPECT_TRUE(dwarf->wait_reasons.empty());
  EXPECT_NE(dwarf->source.find("no names: runtime.waitReasonStrings"), std::string::npos)
      << dwarf->source;
  auto layout = runtime_layout(**elf, it->go_version);
  ASSERT_TRUE(layout) << layout.error().message;
  auto table = layout_from_table(it->go_version);
  ASSERT_TRUE(table);
  EXPECT_EQ(layout->source, "DWARF, names from " + table->source);
  EXPECT_EQ(layout->wait_reasons, table->wait_reasons);
  EXPECT_EQ(layout_fields(*layout), layout_fields(*table));
}

// A version with an experiment suffix ("go1.26.8-X:goroutineleakprofile") takes its minor
// version's entry: the experiment must not move fields. Built here because the fixture
// variants do not include experiments; the local toolchain is 1.26+.
TEST(RuntimeLayout, ExperimentBuildsMatchTheirMinorVersionEntry) {
  char dir_template[] = "/tmp/goscry-layout-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  std::string out = std::string(dir_template) + "/hello-leakprofile";
  auto build = run_command({"env", "GOEXPERIMENT=goroutineleakprofile", "CGO_ENABLED=0",
                            "GOFLAGS=-buildvcs=false", testing::go_command(), "build", "-C",
                            testing::source_dir() + "/tests/fixtures", "-o", out, "./hello"});
  if (build.exit_code != 0 && build.err.find("unknown GOEXPERIMENT") != std::string::npos)
    GTEST_SKIP() << "the local Go has no goroutineleakprofile experiment: " << build.err;
  ASSERT_EQ(build.exit_code, 0) << build.err;
  auto version = run_command({testing::go_command(), "version", out});
  std::regex version_re(R"(: (go\S+))");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(version.out, m, version_re)) << version.out;
  std::string go_version = m[1];
  EXPECT_NE(go_version.find("-X:goroutineleakprofile"), std::string::npos) << go_version;
  auto dwarf = dwarf_layout(out);
  auto table = layout_from_table(go_version);
  std::remove(out.c_str());
  rmdir(dir_template);
  ASSERT_TRUE(dwarf) << dwarf.error().message;
  ASSERT_TRUE(table) << table.error().message;
  EXPECT_EQ(layout_fields(*table), layout_fields(*dwarf));
  EXPECT_EQ(table->wait_reasons, dwarf->wait_reasons);
  EXPECT_EQ(table->g_statuses, dwarf->g_statuses);
}

// Spot checks against the numbers in docs/go-runtime.md (read off the Go sources).
TEST(RuntimeLayout, DwarfAgreesWithGoRuntimeNotes) {
  struct Row {
    int atomicstatus, goid, waitreason, parent_goid, gopc, startpc, sched_bp, m_curg;
  };
  const std::map<int, Row> notes = {
      {19, {144, 152, 176, -1, 296, 312, 104, 192}}, {20, {144, 152, 176, -1, 296, 312, 104, 192}},
      {21, {144, 152, 176, 272, 280, 296, 104, 192}}, {22, {144, 152, 176, 272, 280, 296, 104, 192}},
      {23, {152, 160, 184, 280, 288, 304, 104, 192}}, {24, {152, 160, 184, 280, 288, 304, 104, 192}},
      {25, {144, 152, 176, 272, 280, 296, 96, 184}},  {26, {144, 152, 176, 280, 288, 304, 96, 184}},
      {27, {144, 152, 176, 280, 288, 304, 96, 184}},
  };
  for (const auto& f : all_fixtures("hello")) {
    if (f.variant != "plain") continue;
    SCOPED_TRACE(f.label());
    auto l = dwarf_layout(f.path);
    ASSERT_TRUE(l) << l.error().message;
    auto minor = go_minor_version(std::string_view(f.go_version));
    ASSERT_TRUE(minor && notes.count(*minor));
    const Row& n = notes.at(*minor);
    EXPECT_EQ(l->g_m, 48);
    EXPECT_EQ(l->g_sched_sp, 56);
    EXPECT_EQ(l->g_sched_pc, 64);
    EXPECT_EQ(l->g_atomicstatus, n.atomicstatus);
    EXPECT_EQ(l->g_goid, n.goid);
    EXPECT_EQ(l->g_waitreason, n.waitreason);
    EXPECT_EQ(l->g_parent_goid, n.parent_goid);
    EXPECT_EQ(l->g_gopc, n.gopc);
    EXPECT_EQ(l->g_startpc, n.startpc);
    EXPECT_EQ(l->g_sched_bp, n.sched_bp);
    EXPECT_EQ(l->m_curg, n.m_curg);
    EXPECT_EQ(l->wait_reasons.size(), *minor == 19 ? 27u : *minor >= 25 ? 47u : l->wait_reasons.size());
  }
}

// The runtime's constants (DW_TAG_constant runtime.waitReasonChanReceive = N, runtime._Gwaiting
// = 4), as binutils' readelf decodes them, index the names we read: an oracle independent of
// libdw and of our array reading.
std::map<std::string, long> dwarf_constants(const std::string& path) {
  auto r = run_command({"readelf", "--debug-dump=info", path});
  std::map<std::string, long> out;
  std::string name;
  static const std::regex name_re(R"(DW_AT_name\s+: (runtime\.(waitReason\w+|_G\w+))$)");
  static const std::regex value_re(R"(DW_AT_const_value\s*: (-?\d+))");
  bool in_constant = false;
  for (const auto& line : testing::split_lines(r.out)) {
    if (line.find("Abbrev Number") != std::string::npos) {
      in_constant = line.find("DW_TAG_constant") != std::string::npos;
      name.clear();
      continue;
    }
    if (!in_constant) continue;
    std::smatch m;
    if (std::regex_search(line, m, name_re)) name = m[1];
    else if (!name.empty() && std::regex_search(line, m, value_re)) out[name] = std::stol(m[1]);
  }
  return out;
}

TEST(RuntimeLayout, WaitReasonConstantsIndexTheirNames) {
  const std::map<std::string, std::string> reasons = {
      {"runtime.waitReasonZero", ""},
      {"runtime.waitReasonChanReceive", "chan receive"},
      {"runtime.waitReasonChanSend", "chan send"},
      {"runtime.waitReasonSelect", "select"},
      {"runtime.waitReasonSleep", "sleep"},
      {"runtime.waitReasonSemacquire", "semacquire"},
      {"runtime.waitReasonSyncCondWait", "sync.Cond.Wait"},
      {"runtime.waitReasonIOWait", "IO wait"},
      {"runtime.waitReasonGCWorkerIdle", "GC worker (idle)"},
  };
  const std::map<std::string, std::string> statuses = {
      {"runtime._Grunnable", "runnable"}, {"runtime._Grunning", "running"},
      {"runtime._Gsyscall", "syscall"},   {"runtime._Gwaiting", "waiting"},
      {"runtime._Gdead", "dead"},
  };
  for (const auto& f : all_fixtures("hello")) {
    if (f.variant != "plain") continue;
    SCOPED_TRACE(f.label());
    auto l = layout_from_table(f.go_version);
    ASSERT_TRUE(l) << l.error().message;
    auto constants = dwarf_constants(f.path);
    ASSERT_FALSE(constants.empty()) << "readelf found no runtime constants";
    long max_reason = -1;
    for (const auto& [name, value] : constants)
      if (name.starts_with("runtime.waitReason")) max_reason = std::max(max_reason, value);
    EXPECT_EQ(max_reason + 1, static_cast<long>(l->wait_reasons.size()));
    for (const auto& [name, text] : reasons) {
      ASSERT_TRUE(constants.count(name)) << name;
      long v = constants[name];
      ASSERT_LT(v, static_cast<long>(l->wait_reasons.size())) << name;
      EXPECT_EQ(l->wait_reasons[v], text) << name;
    }
    for (const auto& [name, text] : statuses) {
      ASSERT_TRUE(constants.count(name)) << name;
      long v = constants[name];
      ASSERT_LT(v, static_cast<long>(l->g_statuses.size())) << name;
      EXPECT_EQ(l->g_statuses[v], text) << name;
    }
  }
}

// The parked fixture prints runtime.Stack(all) once its goroutines are parked: every state
// Go prints in a "goroutine N [...]:" header must be a name we have for that version.
TEST(RuntimeLayout, TracebackStatesAreNamedByTheTable) {
  static const std::regex header_re(R"(^goroutine \d+.*\[([^\],]+))");
  int runs = 0;
  for (const auto& f : all_fixtures("parked")) {
    if (f.variant != "plain") continue;
    SCOPED_TRACE(f.label());
    ++runs;
    auto l = layout_from_table(f.go_version);
    ASSERT_TRUE(l) << l.error().message;
    std::set<std::string> known(l->wait_reasons.begin(), l->wait_reasons.end());
    known.insert(l->g_statuses.begin(), l->g_statuses.end());
    auto r = run_command({f.path});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::set<std::string> seen;
    for (const auto& line : testing::split_lines(r.out)) {
      std::smatch m;
      if (!std::regex_search(line, m, header_re)) continue;
      seen.insert(m[1]);
      EXPECT_TRUE(known.count(m[1])) << "Go printed [" << m[1] << "], not in the table";
    }
    for (const char* want : {"chan receive", "chan send", "select", "sleep", "IO wait",
                             "sync.Cond.Wait", "running"})
      EXPECT_TRUE(seen.count(want)) << want;
  }
  EXPECT_GT(runs, 0) << "no parked fixture was built";
}

TEST(GoVersion, ParsesReleasesExperimentsAndPrereleases) {
  EXPECT_EQ(go_minor_version("go1.23.12").value_or(-1), 23);
  EXPECT_EQ(go_minor_version("go1.26.10-X:goroutineleakprofile").value_or(-1), 26);
  EXPECT_EQ(go_minor_version("go1.19").value_or(-1), 19);
  EXPECT_EQ(go_minor_version("go1.21rc2").value_or(-1), 21);
  for (const char* bad : {"devel go1.27-abcdef Tue Jan 1", "", "go1.", "go2.1", "go1.2x", "1.23.1"}) {
    auto v = go_minor_version(bad);
    EXPECT_FALSE(v) << bad;
    if (!v) {
      EXPECT_NE(v.error().message.find("unknown Go version"), std::string::npos);
    }
  }
}

TEST(GoVersion, TableCoversGo119ToGo127AndNothingElse) {
  for (int minor = 19; minor <= 27; ++minor) {
    auto l = layout_from_table("go1." + std::to_string(minor) + ".1");
    ASSERT_TRUE(l) << l.error().message;
    EXPECT_EQ(l->source, "table (go1." + std::to_string(minor) + ")");
  }
  auto devel = layout_from_table("devel go1.27-abcdef");
  ASSERT_FALSE(devel);
  EXPECT_NE(devel.error().message.find("unknown Go version"), std::string::npos);
  for (const char* v : {"go1.18.10", "go1.28.0"}) {
    auto l = layout_from_table(v);
    ASSERT_FALSE(l) << v;
    EXPECT_NE(l.error().message.find("go1.19-go1.27"), std::string::npos) << l.error().message;
  }
}

}  // namespace
}  // namespace goscry
