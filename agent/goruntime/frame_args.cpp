#include "agent/goruntime/frame_args.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>

#include "agent/goruntime/goroutine_reader.h"
#include "agent/goruntime/pc_facts.h"

namespace goscry {

namespace {

// The program's marks (runtime/traceback.go); any other byte is an offset, then a size.
constexpr std::uint8_t kEndSeq = 0xff, kStartAgg = 0xfe, kEndAgg = 0xfd, kDotDotDot = 0xfc,
                       kOffsetTooLarge = 0xfb;

void append_hex(std::string& out, std::uint64_t v) {
  char buf[20] = "0x";
  auto r = std::to_chars(buf + 2, buf + sizeof buf, v, 16);
  out.append(buf, r.ptr);
}

// isLive of printArgs: slots below live_start (stack-passed arguments) always are; a
// register argument's spill slot is when the bitmap at the pc says so.
bool is_live(const PclntabArgInfo& info, std::uint8_t offset, std::size_t slot) {
  if (info.live.empty() || offset < info.live_start) return true;
  if (slot / 8 >= info.live.size()) return true;
  return (info.live[slot / 8] >> (slot % 8)) & 1;
}

}  // namespace

std::uint32_t FrameArgs::extent() const {
  std::uint32_t end = 0;
  for (auto off : offsets) end = std::max<std::uint32_t>(end, off + 8u);
  return end;
}

FrameArgs decode_frame_args(PclntabArgInfo info) {
  FrameArgs out;
  const auto& p = info.program;
  for (std::size_t i = 0; i < p.size() && p[i] != kEndSeq; ++i) {
    const std::uint8_t o = p[i];
    if (o == kStartAgg || o == kEndAgg || o == kDotDotDot || o == kOffsetTooLarge) continue;
    if (i + 1 >= p.size()) break;
    out.offsets.push_back(o);
    out.sizes.push_back(p[++i]);
  }
  out.info = std::move(info);
  return out;
}

std::uint64_t arg_word(const std::uint8_t* at, std::uint8_t size) {
  std::uint64_t x;
  std::memcpy(&x, at, 8);
  if (size < 8) {
    const unsigned shift = 64 - 8u * size;
    x = x << shift >> shift;
  }
  return x;
}

void append_args(std::string& out, const FrameArgs& args, std::span<const std::uint64_t> words) {
  if (words.size() != args.offsets.size()) {
    out += "(...)";
    return;
  }
  out += '(';
  const auto& p = args.info.program;
  bool start = true;
  auto comma = [&] {
    if (!start) out += ", ";
  };
  std::size_t word = 0, slot = 0;
  for (std::size_t i = 0; i < p.size() && p[i] != kEndSeq; ++i) {
    switch (const std::uint8_t o = p[i]) {
      case kStartAgg:
        comma();
        out += '{';
        start = true;
        continue;
      case kEndAgg:
        out += '}';
        break;
      case kDotDotDot:
        comma();
        out += "...";
        break;
      case kOffsetTooLarge:
        comma();
        out += '_';
        break;
      default:
        if (i + 1 >= p.size()) break;  // an offset without its size: decode_frame_args drops it
        comma();
        ++i;  // the size, already in args.sizes
        append_hex(out, words[word++]);
        if (!is_live(args.info, o, slot)) out += '?';
        if (o >= args.info.live_start) ++slot;
    }
    start = false;
  }
  out += ')';
}

namespace {

// Stack bytes held at once by read_frame_args, and the most read for one goroutine:
// deeper frames of a deeper stack print "(...)".
constexpr std::size_t kArgsBuffer = 4 << 20;
constexpr std::uint64_t kMaxArgsRange = 256 << 10;

}  // namespace

// One frame's places, from its sp and frame size (runtime/traceback.go). amd64's CALL
// pushes the return address at the top of the frame: the caller's sp is sp + size + 8 and
// the arguments start there. arm64's BL leaves it in LR, which the prologue saves at 0(SP):
// the caller's sp is sp + size, and the arguments start 8 bytes above it, past the
// caller's own saved LR (sys.MinFrameSize). docs/go-runtime.md "Processes on arm64".
struct FramePlaces {
  std::uint64_t caller_sp, argp, ret;
};
FramePlaces frame_places(Isa isa, std::uint64_t sp, std::uint32_t size) {
  if (isa == Isa::Arm64) return {sp + size, sp + size + 8, sp};
  return {sp + size + 8, sp + size + 8, sp + size};
}

ArgsPlan plan_frame_args(const GoProcess& t, PcFacts& facts, const Goroutine& g) {
  ArgsPlan p{{}, {}, {}, g.sched_sp};
  std::uint64_t sp = g.sched_sp;
  for (auto pc : g.pcs) {
    // The offsets do not depend on the pc's liveness: the layout of a return address serves.
    const auto& a = facts.args(pc, false);
    const std::int32_t d = facts.sp_delta(pc);
    if (!a || d < 0) break;
    const FramePlaces f = frame_places(t.binary().isa(), sp, std::uint32_t(d));
    const std::uint64_t top = std::max(p.top, f.argp + a->extent());
    if (top - g.sched_sp > kMaxArgsRange) break;
    p.argps.push_back(f.argp);
    p.rets.push_back(f.ret);
    p.args.push_back(a.get());
    p.top = top;
    sp = f.caller_sp;
  }
  return p;
}

void take_frame_args(const GoProcess& t, const ArgsPlan& p, const std::uint8_t* stack,
                     std::uint64_t stack_addr, Goroutine& g) {
  g.arg_words.clear();
  g.arg_frames = 0;
  auto at = [&](std::uint64_t addr) { return stack + (addr - stack_addr); };
  for (std::size_t k = 0; k < p.argps.size(); ++k) {
    std::uint64_t ret;
    std::memcpy(&ret, at(p.rets[k]), 8);
    const bool last = k + 1 == g.pcs.size();
    const bool placed = last ? !g.stack_truncated && ret >= t.goexit_entry() &&
                                   ret < t.goexit_end()
                             : ret == g.pcs[k + 1];
    if (!placed) return;
    const FrameArgs& a = *p.args[k];
    for (std::size_t i = 0; i < a.offsets.size(); ++i)
      g.arg_words.push_back(arg_word(at(p.argps[k] + a.offsets[i]), a.sizes[i]));
    ++g.arg_frames;
  }
}

Result<void> read_frame_args(const GoProcess& t, PcFacts& facts, std::span<Goroutine* const> gs) {
  auto buf = std::make_unique_for_overwrite<std::uint8_t[]>(kArgsBuffer);
  std::vector<std::pair<Goroutine*, ArgsPlan>> plans;
  std::vector<RemoteRead> reads;
  std::size_t used = 0;
  auto flush = [&]() -> Result<void> {
    auto n = t.process().read_batch(reads, kMergeGap);
    if (!n) return std::unexpected(n.error());
    for (std::size_t i = 0; i < plans.size(); ++i)
      if (reads[i].ok)
        take_frame_args(t, plans[i].second, static_cast<const std::uint8_t*>(reads[i].dest),
                        reads[i].addr, *plans[i].first);
    plans.clear();
    reads.clear();
    used = 0;
    return {};
  };
  for (Goroutine* g : gs) {
    g->arg_words.clear();
    g->arg_frames = 0;
    if (g->pcs.empty() || g->torn) continue;
    ArgsPlan p = plan_frame_args(t, facts, *g);
    if (p.argps.empty()) continue;
    const std::size_t len = p.top - g->sched_sp;
    if (used + len > kArgsBuffer)
      if (auto r = flush(); !r) return r;
    reads.push_back({g->sched_sp, len, buf.get() + used});
    plans.emplace_back(g, std::move(p));
    used += len;
  }
  return flush();
}

}  // namespace goscry
