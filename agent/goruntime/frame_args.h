// Function arguments in tracebacks, printed as the runtime's printArgs prints them:
// "main.serve(0xc000123456, 0x2?, {0x1, 0x0}, ...)" (docs/go-runtime.md "Arguments in
// tracebacks"). The words come from the frame's argument area in the target's stack, read
// by the goroutine reader (ReadOptions::args); the layout from the binary's funcdata.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/goruntime/go_process.h"
#include "symbolizer/pclntab.h"

namespace goscry {

// One physical frame's arguments: the program printArgs follows and the offsets, from the
// frame's argument pointer (its caller's sp), of the words it reads, in print order.
struct FrameArgs {
  PclntabArgInfo info;
  std::vector<std::uint8_t> offsets;
  std::vector<std::uint8_t> sizes;
  // The highest byte a word is read from, + 1: the words lie in [argp, argp + extent).
  std::uint32_t extent() const;
};

FrameArgs decode_frame_args(PclntabArgInfo info);

// The word printArgs prints for a value of `size` bytes read at `at` (8 bytes are read
// there, the bytes past the value masked off).
std::uint64_t arg_word(const std::uint8_t* at, std::uint8_t size);

// Appends "(0x1, 0x2?)": the arguments of a frame whose words (one per offset) are given.
void append_args(std::string& out, const FrameArgs& args, std::span<const std::uint64_t> words);

// The layout of each run-time pc of one target, decoded once: the argument program of its
// function and the liveness at the pc the runtime looks it up at (a return address minus 1,
// the pc itself at a function's entry).
class FrameArgsTable;
struct Goroutine;

// Reads, for each goroutine with a stack, the words its frames' arguments print from
// (Goroutine::arg_words, arg_frames). Each frame's argument pointer is found as the
// runtime's unwinder finds it, from sched.sp and each function's frame size (pcsp), and
// checked against the stack: the word below it must be the next frame's return address.
Result<void> read_frame_args(const GoProcess& t, std::vector<Goroutine>& gs);

class FrameArgsTable {
 public:
  explicit FrameArgsTable(const GoProcess& t) : target_(t) {}
  // Null when pc is not in a Go function.
  const std::shared_ptr<const FrameArgs>& at(std::uint64_t pc);

 private:
  const GoProcess& target_;
  std::unordered_map<std::uint64_t, std::shared_ptr<const FrameArgs>> by_pc_;
};

}  // namespace goscry
