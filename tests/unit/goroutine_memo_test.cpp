// The memo of repeated goroutine reads (agent/goruntime/goroutine_memo.h): a second read of
// a target whose goroutines did not move decodes nothing new, and what it symbolizes is
// what a fresh symbolizer makes of the same read (the oracle: a symbolizer that has never
// seen the target; dump_test checks that one against runtime.Stack). Past its bound the
// memo starts over and still answers the same.
#include "agent/goruntime/goroutine_memo.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "agent/goruntime/go_process.h"
#include "tests/support/fixtures.h"
#include "tests/support/live_process.h"

namespace goscry {
namespace {

// goid -> "function file:line" of each frame, innermost first.
std::map<std::int64_t, std::vector<std::string>> stacks_of(const std::vector<GoroutineView>& vs) {
  std::map<std::int64_t, std::vector<std::string>> out;
  for (const auto& v : vs)
    for (const auto& f : v.frames)
      out[v.g.goid].push_back(f.function + " " + f.file + ":" + std::to_string(f.line));
  return out;
}

// goid -> the identity of its symbolized frames (SharedFrames::id), for the goroutines whose
// stack is the same in both reads (the runtime's own may still move in a program just
// started).
std::map<std::int64_t, const void*> unmoved_ids(const std::vector<GoroutineView>& vs,
                                                const std::vector<GoroutineView>& other) {
  std::map<std::int64_t, const std::vector<std::uint64_t>*> pcs;
  for (const auto& v : other) pcs[v.g.goid] = &v.g.pcs;
  std::map<std::int64_t, const void*> out;
  for (const auto& v : vs)
    if (auto it = pcs.find(v.g.goid); it != pcs.end() && *it->second == v.g.pcs)
      out[v.g.goid] = v.frames.id();
  return out;
}

// One memo read, symbolized; and the same goroutines symbolized by a fresh symbolizer.
struct Twice {
  std::vector<GoroutineView> memo;
  std::vector<GoroutineView> fresh;
};
Twice read_with(GoroutineMemo& memo, const GoProcess& t) {
  auto list = memo.read();
  EXPECT_TRUE(list) << list.error().message;
  if (!list) return {};
  auto copy = list->goroutines;
  return {memo.symbolize(std::move(list->goroutines), list->read_at),
          symbolize_goroutines(t, std::move(copy), list->read_at)};
}

TEST(GoroutineMemo, ASecondReadOfAnUnchangedTargetDecodesNothingNewAndSymbolizesTheSame) {
  for (const auto& f : testing::all_fixtures("hello")) {
    SCOPED_TRACE(f.label());
    auto live = testing::LiveProcess::start({f.path, "wait"});
    ASSERT_TRUE(live) << live.error().message;
    auto go = GoProcess::open((*live)->pid());
    ASSERT_TRUE(go) << go.error().message;
    GoroutineMemo memo(**go);
    auto first = read_with(memo, **go);
    ASSERT_GT(memo.remembered(), 0u);
    auto second = read_with(memo, **go);
    // The program waits on stdin: main is where it was, and the second read found its stack
    // (and every other that did not move) symbolized already: the very same frames, where
    // a fresh symbolizer makes new equal ones.
    const auto unmoved = unmoved_ids(second.memo, first.memo);
    EXPECT_TRUE(unmoved.contains(1));
    EXPECT_EQ(unmoved, unmoved_ids(first.memo, second.memo));
    EXPECT_NE(unmoved_ids(second.fresh, first.memo), unmoved_ids(first.memo, second.fresh));
    EXPECT_EQ(stacks_of(first.memo), stacks_of(first.fresh));
    EXPECT_EQ(stacks_of(second.memo), stacks_of(second.fresh));
    EXPECT_FALSE(stacks_of(second.memo).empty());
  }
}

TEST(GoroutineMemo, PastItsBoundItStartsOverAndStillAnswersTheSame) {
  const auto f = testing::all_fixtures("hello").front();
  auto live = testing::LiveProcess::start({f.path, "wait"});
  ASSERT_TRUE(live) << live.error().message;
  auto go = GoProcess::open((*live)->pid());
  ASSERT_TRUE(go) << go.error().message;
  // Every read remembers more than 4 entries: each next read starts over.
  GoroutineMemo bounded(**go, 4);
  auto previous = read_with(bounded, **go);
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE("read " + std::to_string(i));
    auto twice = read_with(bounded, **go);
    EXPECT_EQ(stacks_of(twice.memo), stacks_of(twice.fresh));
    // Symbolized again: new frames for main's unmoved stack.
    const auto unmoved = unmoved_ids(twice.memo, previous.memo);
    ASSERT_TRUE(unmoved.contains(1));
    EXPECT_NE(unmoved.at(1), unmoved_ids(previous.memo, twice.memo).at(1));
    previous = std::move(twice);
  }
}

}  // namespace
}  // namespace goscry
