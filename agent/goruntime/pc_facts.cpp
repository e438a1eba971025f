#include "agent/goruntime/pc_facts.h"

namespace goscry {

bool PcFacts::in_code(std::uint64_t pc) {
  Fact& f = by_pc_[pc];
  if (f.code < 0)
    f.code = target_.binary().pclntab().function_index(pc - target_.bias()).has_value();
  return f.code;
}

std::int32_t PcFacts::sp_delta(std::uint64_t pc) {
  Fact& f = by_pc_[pc];
  if (!f.sp_known) {
    f.sp_delta = target_.binary().pclntab().sp_delta(pc - target_.bias()).value_or(-1);
    f.sp_known = true;
  }
  return f.sp_delta;
}

const std::shared_ptr<const FrameArgs>& PcFacts::args(std::uint64_t pc, bool exact) {
  Fact& f = by_pc_[pc];
  std::shared_ptr<const FrameArgs>& out = f.args[exact];
  if (f.args_known[exact]) return out;
  f.args_known[exact] = true;
  const auto& table = target_.binary().pclntab();
  const std::uint64_t rel = pc - target_.bias();
  auto idx = table.function_index(rel);
  if (f.code < 0) f.code = idx.has_value();
  if (!idx) return out;
  std::uint64_t lookup = !exact && rel > table.entry(*idx) ? rel - 1 : rel;
  // Up to Go 1.20 the traceback read the arguments' liveness where it had moved its pc to
  // print the inlined frames: the call site of the outermost inlined call open there
  // (gentraceback's tracepc); from 1.21 at the pc itself (docs/go-runtime.md).
  if (target_.binary().go_minor() < 21) {
    const auto frames = table.frames(lookup);
    if (!frames.empty()) lookup = table.entry(*idx) + frames.back().pc_offset;
  }
  out = std::make_shared<const FrameArgs>(decode_frame_args(table.arg_info(*idx, lookup)));
  return out;
}

}  // namespace goscry
