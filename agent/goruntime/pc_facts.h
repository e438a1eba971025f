// What a read of goroutines looks up per run-time pc, each once per read: whether the pc
// is in Go code, the frame size there (pcsp) and the layout of the frame's arguments
// (FrameArgs). The unwinder, the argument reader and the symbolizer of one read share it,
// so 100,000 goroutines with a handful of distinct stacks decode a handful of pc tables,
// not one per goroutine, per validation round or per stage.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "agent/goruntime/frame_args.h"
#include "agent/goruntime/go_process.h"

namespace goscry {

class PcFacts {
 public:
  explicit PcFacts(const GoProcess& t) : target_(t) {}
  PcFacts(const PcFacts&) = delete;
  PcFacts& operator=(const PcFacts&) = delete;

  // pc lies in a function of the binary's .gopclntab.
  bool in_code(std::uint64_t pc);
  // The stack pointer's distance from its entry value at pc (symbolizer/pclntab.h
  // sp_delta): a frame stopped at pc has its return address at sp + sp_delta(pc). -1 when
  // unknown.
  std::int32_t sp_delta(std::uint64_t pc);
  // The argument layout of a frame at pc, null outside Go code. printArgs looks the
  // liveness up at the frame's symbolic pc: a return address minus 1, but the pc itself
  // where the frame was stopped rather than called from (`exact`: a thread's registers, the
  // frame interrupted by an asynchronous preemption) or at a function's entry.
  const std::shared_ptr<const FrameArgs>& args(std::uint64_t pc, bool exact);
  // The pcs looked up so far.
  std::size_t size() const { return by_pc_.size(); }

 private:
  struct Fact {
    std::int8_t code = -1;  // -1 not looked up yet
    bool sp_known = false;
    std::int32_t sp_delta = -1;
    bool args_known[2] = {false, false};  // [exact]
    std::shared_ptr<const FrameArgs> args[2];
  };
  const GoProcess& target_;
  std::unordered_map<std::uint64_t, Fact> by_pc_;
};

}  // namespace goscry
