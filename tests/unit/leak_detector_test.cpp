// LeakDetector on synthetic snapshots: what separates a leak (steady growth, members stay)
// from the controls (a pool started at once, members replaced by turnover, bursts that
// finish, a plateau). The end-to-end check on real programs is tests/bpf/leaks_test.cpp.
#include "agent/leaks/leak_detector.h"

#include <gtest/gtest.h>

namespace goscry {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

GoroutineView parked(std::uint64_t goid, const std::string& creator, int block_line) {
  GoroutineView v;
  v.g.goid = goid;
  v.g.status = kGwaiting;
  v.state = "chan receive";
  v.frames = {{"runtime.gopark", "proc.go", 1, false, 0x1000, 0x1000},
              {"main.worker", "main.go", block_line, false, 0x2000, 0x1f00}};
  v.created_by = CreatedBy{{creator, "main.go", 10}, 0x3000, 0x2f00, 1};
  return v;
}

struct Watch {
  LeakDetector d;
  std::vector<LeakSuspect> reported;
  void tick(int second, const std::vector<GoroutineView>& gs) {
    auto fresh = d.observe(gs, std::int64_t(second + 1) * kSecond, nullptr);
    reported.insert(reported.end(), fresh.begin(), fresh.end());
  }
};

TEST(LeakDetector, ReportsSteadyGrowthWhoseMembersStay) {
  Watch r;
  std::vector<GoroutineView> gs;
  for (int s = 0; s < 30; ++s) {
    gs.push_back(parked(100 + s, "main.spawn", 42));
    r.tick(s, gs);
  }
  ASSERT_EQ(r.reported.size(), 1u);
  const auto& s = r.reported[0];
  EXPECT_EQ(s.key.creation.function, "main.spawn");
  EXPECT_EQ(s.key.blocking.function, "main.worker");
  EXPECT_EQ(s.key.blocking.line, 42);
  EXPECT_EQ(s.key.wait_reason, "chan receive");
  EXPECT_LE(s.reported_after_seconds, 20);
  EXPECT_NEAR(s.growth_per_minute, 60, 5);
  EXPECT_EQ(s.confidence, "high");
  EXPECT_NE(s.example_stack.find("main.worker(...)"), std::string::npos) << s.example_stack;
}

TEST(LeakDetector, IgnoresAPoolStartedInOneStep) {
  Watch r;
  std::vector<GoroutineView> gs;
  for (int s = 0; s < 60; ++s) {
    if (s == 5)
      for (int i = 0; i < 32; ++i) gs.push_back(parked(100 + i, "main.startPool", 7));
    r.tick(s, gs);
  }
  EXPECT_TRUE(r.reported.empty());
}

TEST(LeakDetector, IgnoresAPlateau) {
  Watch r;
  std::vector<GoroutineView> gs;
  for (int s = 0; s < 90; ++s) {
    if (gs.size() < 10) gs.push_back(parked(100 + s, "main.subscribe", 7));
    r.tick(s, gs);
  }
  EXPECT_TRUE(r.reported.empty());
}

TEST(LeakDetector, IgnoresGrowingGroupsWhoseMembersAreReplaced) {
  // Connections that close and reopen: the count creeps up, but nobody stays.
  Watch r;
  std::uint64_t next = 100;
  for (int s = 0; s < 60; ++s) {
    std::vector<GoroutineView> gs;
    for (int i = 0; i < 5 + s / 4; ++i) gs.push_back(parked(next++, "main.accept", 7));
    r.tick(s, gs);
  }
  EXPECT_TRUE(r.reported.empty());
}

TEST(LeakDetector, IgnoresBurstsThatFinish) {
  Watch r;
  for (int s = 0; s < 60; ++s) {
    std::vector<GoroutineView> gs;
    if (s % 10 < 5)
      for (int i = 0; i < (s % 10) * 10; ++i) gs.push_back(parked(1000 * s + i, "main.burst", 7));
    r.tick(s, gs);
  }
  EXPECT_TRUE(r.reported.empty());
}

TEST(LeakDetector, BpfCountersAreAReason) {
  Watch r;
  std::vector<GoroutineView> gs;
  std::unordered_map<std::uint64_t, SiteCounter> sites;
  for (int s = 0; s < 20; ++s) {
    gs.push_back(parked(100 + s, "main.spawn", 42));
    gs.back().g.gopc = 0x3000;
    for (auto& g : gs) g.g.gopc = 0x3000;
    sites[0x3000] = {std::uint64_t(s + 1), 0};
    auto fresh = r.d.observe(gs, std::int64_t(s + 1) * kSecond, &sites);
    r.reported.insert(r.reported.end(), fresh.begin(), fresh.end());
  }
  ASSERT_EQ(r.reported.size(), 1u);
  ASSERT_TRUE(r.reported[0].site_created.has_value());
  bool mentions = false;
  for (const auto& why : r.reported[0].reasons) mentions |= why.starts_with("BPF:");
  EXPECT_TRUE(mentions);
}

}  // namespace
}  // namespace goscry
