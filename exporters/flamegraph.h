// Flame graphs written by goscry itself: folded stacks ("main;f;g 12", the input format of
// flamegraph.pl, speedscope and inferno) and a self-contained interactive SVG (search, zoom,
// tooltips) that opens in any browser with no other file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace goscry::flame {

struct StackCount {
  std::vector<std::string> frames;  // root first, leaf last
  std::uint64_t count = 0;
};

// One line per distinct stack, sorted, counts of equal stacks added. Frame names have ';'
// replaced (it separates frames) and newlines removed.
std::string folded(const std::vector<StackCount>& stacks);

struct SvgOptions {
  std::string title = "goscry flame graph";
  std::string subtitle;         // e.g. "pid 4242, 30 s at 99 Hz"
  std::string unit = "samples";
  int width = 1200;
  int frame_height = 16;
  double min_width_px = 0.1;    // narrower frames are not drawn (their time stays in the parent)
};

std::string svg(const std::vector<StackCount>& stacks, const SvgOptions& options = {});

}  // namespace goscry::flame
