// Function arguments in tracebacks, printed as the runtime's printArgs prints them:
// "main.serve(0xc000123456, 0x2?, {0x1, 0x0}, ...)" (docs/go-runtime.md "Arguments in
// tracebacks"). The words come from the frame's argument area in the target's stack, taken
// by the goroutine reader (ReadOptions::args) from the stack bytes its walk read; the
// layout from the binary's funcdata.
#pragma once

#include <cstdint>
#include <span>
#include <string>
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
// A frame without all of its words prints "(...)", as an inlined call does: never a value
// that was not read.
void append_args(std::string& out, const FrameArgs& args, std::span<const std::uint64_t> words);

class PcFacts;
struct Goroutine;

// Where the words of a goroutine's frames lie, innermost frame first: each frame's
// argument pointer and the place of its return address, found as the runtime's unwinder
// finds them (from sched.sp and each function's frame size, pcsp, by the binary's ISA), as
// many frames as could be placed, and the end of the range [sched.sp, top) they lie in.
struct ArgsPlan {
  std::vector<std::uint64_t> argps;
  std::vector<std::uint64_t> rets;
  std::vector<const FrameArgs*> args;
  std::uint64_t top = 0;
};
ArgsPlan plan_frame_args(const GoProcess& t, PcFacts& facts, const Goroutine& g);

// Takes the words of each planned frame (Goroutine::arg_words, arg_frames) from `stack`,
// the target's bytes from `stack_addr` (at most g.sched_sp) up to at least p.top, as long
// as each frame's return address is where the plan puts it: the next frame's pc
// (runtime.goexit + one instruction for the last).
void take_frame_args(const GoProcess& t, const ArgsPlan& p, const std::uint8_t* stack,
                     std::uint64_t stack_addr, Goroutine& g);

// Reads the words of goroutines whose stack bytes were not at hand when their walk ended
// (a stack deeper than the reader's window, a goroutine without a frame record to walk):
// [sched.sp, top) of each, batched.
Result<void> read_frame_args(const GoProcess& t, PcFacts& facts, std::span<Goroutine* const> gs);

}  // namespace goscry
