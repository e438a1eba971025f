// The arguments of one frame as printArgs prints them, from a real binary's argument
// program: the netread leak's internal/poll.(*FD).Read, which Go's own traceback prints as
// "internal/poll.(*FD).Read(0xc000120080, {0xc000130009, 0x1, 0x1})" (a pointer, then a
// slice as an aggregate of three words). A frame without every one of its words prints
// "(...)", as an inlined call does: never a value nobody read.
#include "agent/goruntime/frame_args.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "symbolizer/go_binary.h"
#include "tests/support/fixtures.h"

namespace goscry {
namespace {

FrameArgs fd_read_args() {
  const auto f = testing::newest_fixture("leaks");
  EXPECT_TRUE(f) << "no leaks fixture was built";
  if (!f) return {};
  auto bin = GoBinary::open(f->path);
  EXPECT_TRUE(bin) << bin.error().message;
  if (!bin) return {};
  const auto& table = (*bin)->pclntab();
  auto idx = table.find("internal/poll.(*FD).Read");
  EXPECT_TRUE(idx) << f->path << " has no internal/poll.(*FD).Read";
  if (!idx) return {};
  return decode_frame_args(table.arg_info(*idx, table.entry(*idx)));
}

std::string printed(const FrameArgs& a, std::vector<std::uint64_t> words) {
  std::string out;
  append_args(out, a, words);
  std::erase(out, '?');  // liveness marks depend on the pc; the shape is what is checked
  return out;
}

TEST(FrameArgs, PrintsEachWordInTheShapeOfGosTraceback) {
  const FrameArgs a = fd_read_args();
  ASSERT_EQ(a.offsets.size(), 4u);
  EXPECT_EQ(printed(a, {0xc000120080, 0xc000130009, 0x1, 0x1}),
            "(0xc000120080, {0xc000130009, 0x1, 0x1})");
  EXPECT_EQ(printed(a, {0, 0, 0, 0}), "(0x0, {0x0, 0x0, 0x0})");
}

TEST(FrameArgs, AFrameWithoutAllItsWordsPrintsDotsNotAValue) {
  const FrameArgs a = fd_read_args();
  ASSERT_EQ(a.offsets.size(), 4u);
  EXPECT_EQ(printed(a, {0xc000120080, 0xc000130009, 0x1}), "(...)");
  EXPECT_EQ(printed(a, {}), "(...)");
  EXPECT_EQ(printed(a, {1, 2, 3, 4, 5}), "(...)");
}

}  // namespace
}  // namespace goscry
