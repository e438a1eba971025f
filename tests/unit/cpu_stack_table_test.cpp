// The CPU sampler's table of stacks (agent/probes/cpu_stack_table.h) against a plain
// std::map of the same stacks: one id per distinct stack, ids never shared while stored,
// a bounded size with the refusal the sampler counts.
#include "agent/probes/cpu_stack_table.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <map>
#include <set>
#include <vector>

namespace goscry {
namespace {

std::vector<std::uint64_t> stack_of(std::uint64_t n) {
  return {0x401000 + n % 7, 0x402000 + n, 0x403000 + n / 3};
}

TEST(CpuStackTable, OneIdPerDistinctStackNeverSharedWhileStored) {
  CpuStackTable table;
  std::map<std::vector<std::uint64_t>, std::int32_t> seen;  // the reference
  for (std::uint64_t n = 0; n < 20000; ++n) {
    auto pcs = stack_of(n % 5000);
    const std::int32_t id = table.intern(pcs);
    ASSERT_GE(id, 0);
    auto [it, fresh] = seen.try_emplace(pcs, id);
    EXPECT_EQ(it->second, id) << "stack " << n << " changed its id";
    EXPECT_EQ(table.stack(id), pcs);
  }
  std::set<std::int32_t> ids;
  for (const auto& [pcs, id] : seen) ids.insert(id);
  EXPECT_EQ(ids.size(), seen.size());
  EXPECT_EQ(table.size(), seen.size());

  // Forgotten: gone; sampled again, it is stored under an id no stored stack has.
  const auto first = stack_of(0);
  table.forget(seen[first]);
  EXPECT_TRUE(table.stack(seen[first]).empty());
  const std::int32_t again = table.intern(first);
  for (const auto& [pcs, id] : seen) {
    if (pcs == first) continue;
    EXPECT_NE(id, again);
  }
  EXPECT_EQ(table.stack(again), first);
}

TEST(CpuStackTable, RefusesANewStackWhenFullAndKeepsTheStoredOnes) {
  CpuStackTable table;
  for (std::uint64_t n = 0; n < CpuStackTable::kMaxStacks; ++n)
    ASSERT_GE(table.intern({n + 1}), 0);
  EXPECT_EQ(table.intern({0xdead0000}), -ENOSPC);
  const std::int32_t known = table.intern({1});  // stored: still answered
  EXPECT_GE(known, 0);
  table.forget(known);
  EXPECT_GE(table.intern({0xdead0000}), 0);  // room again
}

}  // namespace
}  // namespace goscry
