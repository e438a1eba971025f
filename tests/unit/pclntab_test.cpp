// .gopclntab against Go's own tools: `go tool addr2line` for function and file:line over
// thousands of PCs of every fixture, and the frames the inline fixture records with
// runtime.CallersFrames for inlined call sites.
#include "symbolizer/pclntab.h"

#include <gtest/gtest.h>

#include <sstream>

#include "symbolizer/go_binary.h"
#include "tests/support/fixtures.h"
#include "tests/support/go_oracles.h"

namespace goscry {
namespace {

using testing::all_fixtures;

// n PCs spread over the whole function table (so over all of .text, runtime included):
// every fourth one a function entry, the others anywhere inside the function.
std::vector<std::uint64_t> spread_pcs(const Pclntab& t, std::size_t n) {
  std::vector<std::uint64_t> pcs;
  std::uint64_t x = 88172645463325252ull;
  const std::size_t nf = t.num_functions();
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t i = k * nf / n;
    std::uint64_t e = t.entry(i), size = t.end(i) - e;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    pcs.push_back(k % 4 == 0 || size == 0 ? e : e + x % size);
  }
  return pcs;
}

// addr2line prints the physical (outermost) function with the innermost file:line.
testing::Addr2lineAnswer as_addr2line(const std::vector<Frame>& frames) {
  if (frames.empty()) return {"?", "?:0"};
  return {frames.back().function, frames.front().file + ":" + std::to_string(frames.front().line)};
}

// goscry's frames against addr2line's at 2400 PCs of the fixture `f`.
void expect_addr2line_agreement(const testing::Fixture& f) {
  SCOPED_TRACE(f.label());
  auto bin = GoBinary::open(f.path);
  ASSERT_TRUE(bin) << bin.error().message;
  auto pcs = spread_pcs((*bin)->pclntab(), 2400);
  auto want = testing::go_addr2line(f.path, pcs);
  int mismatches = 0, inlined = 0;
  for (std::size_t i = 0; i < pcs.size(); ++i) {
    auto frames = (*bin)->frames(pcs[i]);
    if (frames.size() > 1) ++inlined;
    auto got = as_addr2line(frames);
    // No position known: alignment padding past the end of a function's tables, or a
    // marker symbol without tables (go:textfipsstart). addr2line prints an empty file
    // there (with line -1, or a value decoded from the first bytes of pctab when the
    // table offset is 0, where the runtime returns -1); goscry says "?:-1".
    if (got.file_line == "?:-1" && want[i].file_line.rfind(":-", 0) == 0)
      got.file_line = want[i].file_line;
    if (got.function != want[i].function || got.file_line != want[i].file_line) {
      if (++mismatches <= 5)
        ADD_FAILURE() << to_hex(pcs[i]) << ": goscry " << got.function << " " << got.file_line
                      << ", addr2line " << want[i].function << " " << want[i].file_line;
    }
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_GT(inlined, 0) << "no PC fell in inlined code: the sample is too narrow";
}

TEST(Pclntab, MatchesAddr2lineOnEveryFixture) {
  auto fixtures = all_fixtures();
  ASSERT_FALSE(fixtures.empty()) << "no fixtures were built";
  for (const auto& f : fixtures) expect_addr2line_agreement(f);
}

// arm64 code read on this host (docs/go-runtime.md "arm64"): pc deltas in the tables are
// counted in 4-byte instructions (the header's minLC), which only an arm64 binary tests.
TEST(Pclntab, MatchesAddr2lineOnEveryArm64Fixture) {
  auto fixtures = all_fixtures("", "arm64");
  ASSERT_FALSE(fixtures.empty()) << "no arm64 fixtures were built";
  for (const auto& f : fixtures) {
    auto bin = GoBinary::open(f.path);
    ASSERT_TRUE(bin) << f.label() << ": " << bin.error().message;
    EXPECT_EQ((*bin)->isa(), Isa::Arm64) << f.label();
    EXPECT_EQ((*bin)->pclntab().header().quantum, 4u) << f.label();
    expect_addr2line_agreement(f);
  }
}

struct Site {
  std::string name;
  std::uint64_t pc = 0;
  std::vector<std::string> frames;  // "function file:line"
};

struct InlineRun {
  std::uint64_t main_entry = 0;
  std::vector<Site> sites;
};

InlineRun run_inline_fixture(const std::string& path) {
  auto r = testing::run_command({path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  InlineRun run;
  for (const auto& line : testing::split_lines(r.out)) {
    std::istringstream in(line);
    std::string kind;
    in >> kind;
    if (kind == "main.main") {
      std::string v;
      in >> v;
      run.main_entry = std::stoull(v, nullptr, 16);
    } else if (kind == "site") {
      Site s;
      std::string v;
      in >> s.name >> v;
      s.pc = std::stoull(v, nullptr, 16);
      run.sites.push_back(s);
    } else if (kind == "frame" && !run.sites.empty()) {
      run.sites.back().frames.push_back(line.substr(6));
    }
  }
  return run;
}

TEST(Pclntab, ResolvesInlinedFramesLikeCallersFrames) {
  auto fixtures = all_fixtures("inline");
  ASSERT_FALSE(fixtures.empty());
  for (const auto& f : fixtures) {
    SCOPED_TRACE(f.label());
    auto bin = GoBinary::open(f.path);
    ASSERT_TRUE(bin) << bin.error().message;
    InlineRun run = run_inline_fixture(f.path);
    ASSERT_EQ(run.sites.size(), 4u);
    auto main_fn = (*bin)->find_function("main.main");
    ASSERT_TRUE(main_fn);
    const std::uint64_t bias = run.main_entry - main_fn->entry;  // PIE load bias
    for (const auto& site : run.sites) {
      SCOPED_TRACE(site.name);
      // The recorded PC is a return address: the call is at pc-1, as CallersFrames does.
      std::vector<std::string> got;
      for (const auto& fr : (*bin)->frames(site.pc - bias - 1))
        got.push_back(fr.function + " " + fr.file + ":" + std::to_string(fr.line));
      EXPECT_EQ(got, site.frames);
    }
    // The oracle itself must show inlining, or the comparison proves nothing.
    EXPECT_EQ(run.sites[0].frames.size(), 3u);
  }
}

// A copy of a fixture's bytes with the .gopclntab patched by `patch`.
Result<std::shared_ptr<GoBinary>> patched(const std::string& path,
                                          void (*patch)(std::uint8_t* table, std::size_t size)) {
  auto elf = ElfFile::open(path);
  if (!elf) return std::unexpected(elf.error());
  const ElfSection* s = (*elf)->section(".gopclntab");
  auto all = (*elf)->file_bytes().bytes();
  std::vector<std::uint8_t> bytes(all.begin(), all.end());
  patch(bytes.data() + s->offset, s->size);
  auto copy = ElfFile::from_bytes(std::move(bytes), "patched");
  if (!copy) return std::unexpected(copy.error());
  return GoBinary::from_elf(*copy);
}

std::string plain_fixture() {
  for (const auto& f : all_fixtures("hello"))
    if (f.variant == "plain" && f.go_version == testing::go_version_of(f.path)) return f.path;
  return "";
}

void put_u64(std::uint8_t* p, std::uint64_t v) { std::memcpy(p, &v, 8); }

// What garble does to a binary: a random magic. The refusal says what the binary is.
TEST(Pclntab, RefusesAnObfuscatedMagicSayingWhatItIs) {
  auto b = patched(plain_fixture(), [](std::uint8_t* t, std::size_t) {
    std::uint32_t m = 0x12345678;
    std::memcpy(t, &m, 4);
  });
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().message,
            "patched: .gopclntab: pclntab magic 0x12345678 is none a Go release writes: an "
            "obfuscated binary (garble randomizes it), which goscry cannot read");
}

TEST(Pclntab, RejectsOutOfRangeOffsets) {
  for (const auto& f : all_fixtures("hello")) {
    if (f.variant != "plain") continue;
    SCOPED_TRACE(f.label());
    auto elf = ElfFile::open(f.path);
    ASSERT_TRUE(elf);
    auto size = (*elf)->section(".gopclntab")->size;
    // funcnameOffset: the fourth header word from 1.18 on.
    auto b = patched(f.path, [](std::uint8_t* t, std::size_t) { put_u64(t + 8 + 3 * 8, 0x7fffffff); });
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().message, "patched: .gopclntab: funcname table offset 0x7fffffff is outside the " +
                                     std::to_string(size) + "-byte table");
  }
}

TEST(Pclntab, RejectsAFunctionCountTheTableCannotHold) {
  auto elf = ElfFile::open(plain_fixture());
  ASSERT_TRUE(elf);
  auto size = (*elf)->section(".gopclntab")->size;
  // nfunc = 2^40: must fail before allocating anything of that size.
  auto b = patched(plain_fixture(), [](std::uint8_t* t, std::size_t) { put_u64(t + 8, 1ull << 40); });
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().message, "patched: .gopclntab: function table of 1099511627776 entries "
                               "does not fit in the " + std::to_string(size) + "-byte table");
}

TEST(Pclntab, RejectsATruncatedTable) {
  auto elf = ElfFile::open(plain_fixture());
  ASSERT_TRUE(elf);
  auto table = (*elf)->section_data(".gopclntab");
  ASSERT_TRUE(table);
  // The cu table (header word 4 from 1.18 on) is the first one cut off.
  auto cu_off = table->u64(8 + 4 * 8);
  auto cut = table->sub(0, 4096);
  auto t = Pclntab::parse(*cut, {});
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().message, "cu table offset " + to_hex(*cu_off) + " is outside the 4096-byte table");
  auto tiny = Pclntab::parse(*table->sub(0, 6), {});
  ASSERT_FALSE(tiny);
  EXPECT_EQ(tiny.error().message, "header: truncated");
}

// Corrupt bytes in the pcvalue tables and the _func records (the function table itself
// stays sorted, so the binary opens): lookups may give nonsense but never crash, hang or
// allocate without bound (run under ASan with GOSCRY_SANITIZE).
TEST(Pclntab, SurvivesCorruptTables) {
  auto elf = ElfFile::open(plain_fixture());
  ASSERT_TRUE(elf);
  const ElfSection* s = (*elf)->section(".gopclntab");
  auto table = (*elf)->section_data(*s);
  // From pctabOffset (header word 6) to the end, minus the function table at pclnOffset.
  const std::uint64_t pctab = *table->u64(8 + 6 * 8), pcln = *table->u64(8 + 7 * 8);
  const std::uint64_t functab_end = pcln + (*table->u64(8) + 1) * 8;
  auto all = (*elf)->file_bytes().bytes();
  std::uint64_t x = 0x9e3779b97f4a7c15ull;
  int opened = 0;
  for (int round = 0; round < 20; ++round) {
    std::vector<std::uint8_t> bytes(all.begin(), all.end());
    for (int k = 0; k < 5000; ++k) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      std::uint64_t off = pctab + x % (s->size - pctab);
      if (off >= pcln && off < functab_end) continue;
      bytes[s->offset + off] = static_cast<std::uint8_t>(x >> 32);
    }
    auto copy = ElfFile::from_bytes(std::move(bytes), "corrupt");
    ASSERT_TRUE(copy);
    auto b = GoBinary::from_elf(*copy);
    if (!b) continue;
    ++opened;
    auto text = (*copy)->section(".text");
    for (std::uint64_t pc = text->addr; pc < text->addr + text->size; pc += 97) (*b)->frames(pc);
  }
  EXPECT_GT(opened, 0);
}

}  // namespace
}  // namespace goscry
