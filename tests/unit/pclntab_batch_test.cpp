// Pclntab::frames_batch against frames(): the same frames for every PC, in the caller's
// order, for PCs in any order with duplicates and PCs outside Go code — on every fixture
// and on the toolchain's compile (frames() itself is checked against addr2line elsewhere).
#include <gtest/gtest.h>

#include <algorithm>

#include "symbolizer/go_binary.h"
#include "tests/support/fixtures.h"

namespace goscry {
namespace {

std::string describe(std::span<const PclntabFrame> fs) {
  std::string s;
  for (const auto& f : fs)
    s += std::string(f.function) + " " + std::string(f.file) + ":" + std::to_string(f.line) +
         (f.inlined ? " (inlined)" : "") + "; ";
  return s;
}

void expect_batch_equals_single(const std::string& path, std::size_t n) {
  SCOPED_TRACE(path);
  auto bin = GoBinary::open(path);
  ASSERT_TRUE(bin) << bin.error().message;
  const Pclntab& t = (*bin)->pclntab();
  std::vector<std::uint64_t> pcs = {0, t.entry(0) - 1, t.end(t.num_functions() - 1), ~0ull};
  std::uint64_t x = 0x9e3779b97f4a7c15ull;
  for (std::size_t k = 0; k < n; ++k) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::size_t i = x % t.num_functions();
    std::uint64_t e = t.entry(i), size = t.end(i) - e;
    pcs.push_back(size ? e + (x >> 24) % size : e);
    if (k % 10 == 0) pcs.push_back(pcs.back());  // duplicates
  }
  PclntabBatch batch;
  t.frames_batch(pcs, batch);
  ASSERT_EQ(batch.count.size(), pcs.size());
  std::size_t inlined = 0, mismatches = 0;
  for (std::size_t i = 0; i < pcs.size(); ++i) {
    auto want = t.frames(pcs[i]);
    auto got = batch.at(i);
    inlined += want.size() > 1;
    bool same = want.size() == got.size() &&
                std::equal(want.begin(), want.end(), got.begin(), [](const auto& a, const auto& b) {
                  return a.function == b.function && a.file == b.file && a.line == b.line &&
                         a.inlined == b.inlined;
                });
    if (!same && ++mismatches < 5)
      ADD_FAILURE() << to_hex(pcs[i]) << ": batch " << describe(got) << " single "
                    << describe(want);
  }
  EXPECT_EQ(mismatches, 0u);
  EXPECT_GT(inlined, 0u) << "no PC with inlined frames: the test would not see the inline walk";
}

TEST(PclntabBatch, EqualsOneLookupPerPcOnEveryFixture) {
  auto fixtures = testing::all_fixtures();
  ASSERT_FALSE(fixtures.empty());
  for (const auto& f : fixtures)
    if (f.name == "inline" || f.name == "hello") expect_batch_equals_single(f.path, 3000);
}

TEST(PclntabBatch, EqualsOneLookupPerPcOnTheToolchainsCompiler) {
  auto root = testing::run_command({testing::go_command(), "env", "GOROOT"});
  expect_batch_equals_single(testing::split_lines(root.out).at(0) + "/pkg/tool/linux_amd64/compile",
                             100000);
}

}  // namespace
}  // namespace goscry
