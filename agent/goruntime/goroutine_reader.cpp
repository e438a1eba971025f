#include "agent/goruntime/goroutine_reader.h"

#include <time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>

#include "agent/goruntime/frame_args.h"
#include "agent/goruntime/pc_facts.h"
#include "agent/goruntime/system_goroutines.h"

namespace goscry {

namespace {

// allgs never shrinks; millions of g structs would be gigabytes of target memory. A larger
// allglen is a torn or corrupt read, not a program.
constexpr std::uint64_t kMaxGoroutines = 1u << 23;

template <typename T>
T field(const std::uint8_t* g, int off) {
  T v{};
  if (off >= 0) std::memcpy(&v, g + off, sizeof v);
  return v;
}

struct AllgsHeader {
  std::uint64_t len = 0;
  std::uint64_t ptr = 0;
  bool operator==(const AllgsHeader&) const = default;
};

// allglen first: the runtime stores the new allgptr before the new allglen, so a length
// read before the pointer never exceeds the array the pointer points to.
Result<AllgsHeader> read_header(const GoProcess& t) {
  AllgsHeader h;
  auto len = t.process().read_u64(t.allglen_addr());
  if (!len) return std::unexpected(len.error());
  auto ptr = t.process().read_u64(t.allgptr_addr());
  if (!ptr) return std::unexpected(ptr.error());
  h.len = *len;
  h.ptr = *ptr;
  if (h.len > kMaxGoroutines)
    return fail(ErrorKind::Io, "pid " + std::to_string(t.pid()) + ": implausible runtime.allglen " +
                                   std::to_string(h.len));
  return h;
}

bool has_stack(std::uint32_t status) {
  return status == kGrunnable || status == kGsyscall || status == kGwaiting ||
         status == kGpreempted || status == kGleaked;
}

Goroutine decode_g(const std::uint8_t* b, std::uint64_t addr, const RuntimeLayout& l) {
  Goroutine g;
  g.g = addr;
  const auto raw = field<std::uint32_t>(b, l.g_atomicstatus);
  g.status = raw & ~std::uint32_t(kGscan);
  g.scan = raw & kGscan;
  g.goid = field<std::uint64_t>(b, l.g_goid);
  g.wait_reason = field<std::uint8_t>(b, l.g_waitreason);
  g.waitsince = field<std::int64_t>(b, l.g_waitsince);
  g.parent_goid = field<std::uint64_t>(b, l.g_parent_goid);
  g.gopc = field<std::uint64_t>(b, l.g_gopc);
  g.startpc = field<std::uint64_t>(b, l.g_startpc);
  g.sched_pc = field<std::uint64_t>(b, l.g_sched_pc);
  g.sched_sp = field<std::uint64_t>(b, l.g_sched_sp);
  g.sched_bp = field<std::uint64_t>(b, l.g_sched_bp);
  g.sched_lr = field<std::uint64_t>(b, l.g_sched_lr);
  g.stack_lo = field<std::uint64_t>(b, l.g_stack_lo);
  g.stack_hi = field<std::uint64_t>(b, l.g_stack_hi);
  g.locked_to_thread = field<std::uint64_t>(b, l.g_lockedm) != 0;
  if (l.g_tracking_seq >= 0) g.tracking_seq = field<std::uint8_t>(b, l.g_tracking_seq);
  return g;
}

// The bytes of a g that hold the fields goscry reads: the rest (labels, timers, trace
// state) is not copied, which saves a fifth of the bytes of a 100,000-goroutine read.
std::size_t g_prefix(const RuntimeLayout& l) {
  int end = 0;
  for (int off : {l.g_stack_lo, l.g_stack_hi, l.g_sched_sp, l.g_sched_pc, l.g_sched_bp,
                  l.g_sched_lr, l.g_goid, l.g_waitsince, l.g_parent_goid, l.g_gopc,
                  l.g_startpc, l.g_lockedm})
    end = std::max(end, off + 8);
  end = std::max({end, l.g_atomicstatus + 4, l.g_waitreason + 1, l.g_tracking_seq + 1});
  return std::size_t(std::min(end, l.g_size));
}

// g structs are read this many at a time into one reused buffer: 100,000 g copies at once
// would be 40 MB of fresh memory to fault in, for a few fields of each.
constexpr std::size_t kGChunk = 2048;


// Reads the g structs at `addrs`, a chunk at a time, and hands each decoded one to
// `take(index, goroutine)`; unreadable ones are counted and skipped.
template <typename Take>
Result<void> read_g_structs(const GoProcess& t, const std::vector<std::uint64_t>& addrs,
                            std::uint64_t& unreadable, Take take) {
  const auto& l = t.layout();
  const std::size_t gsize = g_prefix(l);
  // Not zeroed: the reads overwrite it, and zeroing would touch every page before they do.
  const std::size_t chunk = std::min<std::size_t>(kGChunk, addrs.size());
  auto buf = std::make_unique_for_overwrite<std::uint8_t[]>(gsize * chunk);
  std::vector<RemoteRead> reads;
  for (std::size_t first = 0; first < addrs.size(); first += kGChunk) {
    const std::size_t n = std::min<std::size_t>(kGChunk, addrs.size() - first);
    reads.resize(n);
    for (std::size_t i = 0; i < n; ++i) reads[i] = {addrs[first + i], gsize, buf.get() + i * gsize};
    auto ok = t.process().read_batch(reads, kMergeGap);
    if (!ok) return std::unexpected(ok.error());
    for (std::size_t i = 0; i < n; ++i) {
      if (!reads[i].ok) {
        ++unreadable;
        continue;
      }
      take(first + i, decode_g(buf.get() + i * gsize, addrs[first + i], l));
    }
  }
  return {};
}

bool is_live(const Goroutine& g) {
  return g.status != kGidle && g.status != kGdead && g.status != kGdeadextra;
}

// Reads every g struct in allgs[0..len) and keeps the live ones.
Result<void> read_gs(const GoProcess& t, const AllgsHeader& h, GoroutineList& out) {
  std::vector<std::uint64_t> gptrs(h.len);
  if (h.len) {
    auto r = t.process().read_into(
        h.ptr, {reinterpret_cast<std::uint8_t*>(gptrs.data()), gptrs.size() * 8});
    if (!r) return std::unexpected(r.error());
  }
  out.goroutines.reserve(h.len);
  return read_g_structs(t, gptrs, out.unreadable, [&](std::size_t, Goroutine g) {
    if (is_live(g)) out.goroutines.push_back(std::move(g));
  });
}

// FNV-1a over bytes, continuing from `h` (0 starts a fresh hash).
std::uint64_t fnv1a(std::uint64_t h, const void* data, std::size_t len) {
  if (h == 0) h = 0xcbf29ce484222325ull;
  const auto* p = static_cast<const std::uint8_t*>(data);
  for (std::size_t i = 0; i < len; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

bool in_goexit(const GoProcess& t, std::uint64_t pc) {
  return pc >= t.goexit_entry() && pc <= t.goexit_end();
}

// A return address follows a CALL: E8 rel32, or FF /2 through a register (FF D0+r), through
// [reg] (FF 10+r) or [reg+disp8] (FF 50+r disp8) — the forms the Go compiler emits.
bool follows_call(const GoProcess& t, std::uint64_t ret) {
  if (!t.function_at(ret)) return false;
  auto code = t.binary().elf().read_vaddr(ret - t.bias() - 5, 5);
  if (!code) return false;
  const auto b = code->bytes();
  if (b[0] == 0xe8) return true;
  if (b[3] == 0xff && ((b[4] & 0xf8) == 0xd0 || ((b[4] & 0xf8) == 0x10 && (b[4] & 7) != 4 &&
                                                 (b[4] & 7) != 5)))
    return true;
  return b[2] == 0xff && (b[3] & 0xf8) == 0x50 && (b[3] & 7) != 4;
}

// The fallback for a syscall goroutine's first record before Go 1.23 (Unwinder::
// syscall_frame_record): scanning up from g.sched.sp for a frame record {saved bp, return
// address after a CALL} whose saved bp leads to another such record.
constexpr std::size_t kSyscallScan = 4096;

std::uint64_t scan_for_frame_record(const GoProcess& t, const Goroutine& g) {
  if (g.sched_sp < g.stack_lo || g.sched_sp >= g.stack_hi) return 0;
  const std::size_t len = std::min<std::uint64_t>(kSyscallScan, g.stack_hi - g.sched_sp);
  auto bytes = t.process().read(g.sched_sp, len);
  if (!bytes) return 0;
  auto word = [&](std::uint64_t addr) {
    std::uint64_t v = 0;
    std::memcpy(&v, bytes->data() + (addr - g.sched_sp), 8);
    return v;
  };
  const std::uint64_t end = g.sched_sp + bytes->size();
  auto record_ok = [&](std::uint64_t a) {
    if (a < g.sched_sp || a + 16 > end || (a & 7)) return false;
    const std::uint64_t saved_bp = word(a);
    return saved_bp > a && saved_bp < g.stack_hi && follows_call(t, word(a + 8));
  };
  for (std::uint64_t a = g.sched_sp; a + 16 <= end; a += 8) {
    if (!record_ok(a)) continue;
    const std::uint64_t next = word(a);
    // The next record must check out too, unless it lies beyond what was read.
    if (next + 16 > end || record_ok(next) || in_goexit(t, word(next + 8))) return a;
  }
  return 0;
}

// Follows frame-pointer chains: from {saved bp, return address} records to the pcs of each
// goroutine's stack.
class Unwinder {
 public:
  Unwinder(const GoProcess& t, PcFacts& facts, std::size_t max_depth)
      : t_(t), facts_(facts), max_depth_(max_depth) {
    if (auto f = t.binary().find_function("runtime.asyncPreempt"))
      async_preempt_ = {f->entry + t.bias(), f->end + t.bias()};
  }

  // Where the walk of g starts: the first frame record, 0 when there is none to follow.
  std::uint64_t start(Goroutine& g) {
    if ((!has_stack(g.status) && !g.from_registers) || g.sched_pc == 0 ||
        in_goexit(t_, g.sched_pc))
      return 0;
    g.pcs.push_back(g.sched_pc);
    if (g.status == kGsyscall && t_.binary().go_minor() < 23) return syscall_frame_record(g);
    if (!caller_without_record(g)) return 0;
    return g.sched_bp;
  }

  // Before Go 1.23 entersyscall's save() leaves g.sched.bp stale, but g.sched.sp is the sp
  // of the function that entered the syscall (getcallersp) and g.sched.pc a pc in it: its
  // frame size there (pcsp) puts its return address at sp + size and its frame record just
  // below, as Go's unwinder finds it. Scanning up the stack for something shaped like a
  // record instead can stop at a stale one among the function's locals (a cgo build on
  // 1.19 showed a Write and sync.Pool.pin under a blocked Read); the scan is kept only for a
  // function without a frame there.
  std::uint64_t syscall_frame_record(const Goroutine& g) {
    const auto delta = t_.binary().pclntab().sp_delta(g.sched_pc - t_.bias());
    if (delta && *delta >= 8) return g.sched_sp + std::uint64_t(*delta) - 8;
    return scan_for_frame_record(t_, g);
  }

  // A goroutine stopped where its innermost function has no frame record (yet): morestack
  // in a prologue saves g.sched there when a preemption request makes it yield, and the
  // record at sched.bp is then the caller's, whose own pc would be skipped. The function's
  // frame size at sched.pc (pcsp) says where the caller's pc is, as Go's unwinder reads
  // it; that pc is added. False when the walk ends here.
  bool caller_without_record(Goroutine& g) {
    const std::int32_t delta = facts_.sp_delta(g.sched_pc);
    if (delta < 0) return true;
    const auto slot = caller_slot(g.sched_sp, delta, g.sched_bp);
    if (!slot) return true;  // the usual case: its record is in place
    // In LR (arm64, no frame yet): g.sched.lr, which morestack saves, or the thread's LR
    // (--pause).
    if (*slot == 0) return g.sched_lr == 0 || add_caller(g, g.sched_lr);
    return add_caller(g, t_.process().read_u64(*slot));
  }

  // Where the caller's pc of a function stopped with `delta` bytes of frame at sp `sp`,
  // its frame pointer register holding `bp`, is: nothing when its frame record is in place
  // (the walk goes on from bp), 0 when it is in LR, else the address it was saved at.
  // amd64: CALL pushed it at the top of the frame, sp + delta, with the record right
  // below. arm64 (docs/go-runtime.md "Processes on arm64"): BL leaves it in LR, which the
  // prologue saves at 0(SP) before it stores the record {caller's R29, that LR} at SP-8, so
  // with no frame yet (delta 0) it is in LR and R29 is still the caller's.
  std::optional<std::uint64_t> caller_slot(std::uint64_t sp, std::int32_t delta,
                                           std::uint64_t bp) const {
    if (t_.binary().isa() == Isa::Arm64) {
      if (delta == 0) return 0;
      if (bp + 8 == sp) return std::nullopt;
      return sp;
    }
    const std::uint64_t ret_at = sp + std::uint64_t(delta);
    if (bp == ret_at - 8) return std::nullopt;
    return ret_at;
  }

  // Adds the caller's pc found outside a frame record; false when the walk ends there (at
  // runtime.goexit, or truncated).
  bool add_caller(Goroutine& g, Result<std::uint64_t> caller) {
    if (!caller || *caller == 0 || in_goexit(t_, *caller)) {
      if (!caller) g.stack_truncated = true;
      return false;
    }
    if (!in_code(*caller)) {
      g.stack_truncated = true;
      return false;
    }
    g.pcs.push_back(*caller);
    return true;
  }

  // True when the frame just walked is runtime.asyncPreempt's: the signal handler made it
  // look called from the interrupted pc, which may lie in a prologue, an epilogue or a
  // frameless function, where that function's own frame record is not (or no longer) set.
  bool in_async_preempt(const Goroutine& g) const {
    return !g.pcs.empty() && g.pcs.back() >= async_preempt_.first &&
           g.pcs.back() < async_preempt_.second;
  }

  // asyncPreempt's record {bp at the interrupt, interrupted pc} at bp. The interrupted
  // function's frame size at that pc (pcsp) says where its caller's pc is (caller_slot);
  // when its frame record is not in place, the caller's pc is read from there and the walk
  // goes on from the bp of the interrupt (the caller's record), as Go's own unwinder, which
  // uses pcsp everywhere, does.
  std::uint64_t follow_preempted(Goroutine& g, std::uint64_t bp, const std::uint64_t record[2]) {
    const std::uint64_t pc = record[1];
    const std::int32_t delta = facts_.sp_delta(pc);
    const std::uint64_t sp = interrupted_sp(g, bp);
    if (!in_code(pc) || delta < 0 || sp == 0) {
      g.stack_truncated = true;
      return 0;
    }
    g.pcs.push_back(pc);
    auto slot = caller_slot(sp, delta, record[0]);
    if (!slot || g.pcs.size() >= max_depth_) {
      // The frame record is in place: the usual walk from it.
      if (g.pcs.size() >= max_depth_ || record[0] <= bp || !on_stack(g, record[0])) {
        g.stack_truncated = true;
        return 0;
      }
      return record[0];
    }
    if (*slot == 0) slot = sp - 16;  // arm64: the handler pushed the LR there
    auto caller = t_.process().read_u64(*slot);
    if (caller && in_goexit(t_, *caller)) return 0;
    if (!caller || !in_code(*caller) || record[0] <= bp || !on_stack(g, record[0])) {
      g.stack_truncated = true;
      return 0;
    }
    g.pcs.push_back(*caller);
    return record[0];
  }

  // The interrupted function's sp, from asyncPreempt's record at bp; 0 when unknown.
  // amd64: the signal handler pushed the interrupted pc and asyncPreempt's record sits
  // right below it: bp + 16. arm64: the handler pushed the interrupted LR 16 bytes below
  // the sp and made the pc asyncPreempt's LR, which its prologue saved at 0(SP) of its
  // frame, its record at SP-8 (runtime/preempt_arm64.s; the frame's size changes between
  // releases, so it is read from pcsp at its call): bp + 8 + that frame + 16.
  std::uint64_t interrupted_sp(const Goroutine& g, std::uint64_t bp) {
    if (t_.binary().isa() != Isa::Arm64) return bp + 16;
    const std::int32_t frame = facts_.sp_delta(g.pcs.back());
    return frame <= 0 ? 0 : bp + 8 + std::uint64_t(frame) + 16;
  }

  // A frame record lies on the goroutine's own stack, above the saved sp.
  static bool on_stack(const Goroutine& g, std::uint64_t bp) {
    return bp >= g.sched_sp && bp >= g.stack_lo && bp + 16 <= g.stack_hi && (bp & 7) == 0;
  }

  // Takes the record {saved bp, return address} read at bp; returns the next record's
  // address, or 0 when the walk ends (at runtime.goexit, or truncated).
  std::uint64_t follow(Goroutine& g, std::uint64_t bp, const std::uint64_t record[2]) {
    const std::uint64_t ret = record[1];
    if (in_goexit(t_, ret)) return 0;  // the bottom: done
    if (in_async_preempt(g)) return follow_preempted(g, bp, record);
    // A return address outside Go code (zero included: every goroutine's first frame
    // returns to runtime.goexit) ends a walk truncated: the chain went through a frame
    // without a frame pointer, or the goroutine moved on while we read it.
    if (!in_code(ret) || (g.pcs.push_back(ret), g.pcs.size() >= max_depth_) ||
        record[0] <= bp || !on_stack(g, record[0])) {
      g.stack_truncated = true;
      return 0;
    }
    return record[0];
  }

 private:
  bool in_code(std::uint64_t pc) { return facts_.in_code(pc); }

  const GoProcess& t_;
  PcFacts& facts_;
  std::size_t max_depth_;
  std::pair<std::uint64_t, std::uint64_t> async_preempt_{0, 0};
};

// A frame-pointer walk in progress: bp is the address of its next frame record.
struct Walk {
  Goroutine* g;
  std::uint64_t bp;
};

// Each goroutine's stack from sched.sp up is read in one piece (parked stacks are mostly a
// few hundred bytes) and walked here; a deeper stack goes on record by record.
constexpr std::size_t kStackWindow = 16 << 10;
// Stack bytes held at once: windows are read and walked a slice of goroutines at a time.
constexpr std::size_t kStackBuffer = 4 << 20;

// Walks as far as each window reaches; walks that leave their window are returned, and
// `ended(goroutine, window)` is called for each that ended within it, while its bytes are
// at hand.
template <typename Ended>
Result<std::vector<Walk>> unwind_windows(const GoProcess& t, Unwinder& u, std::vector<Walk> walks,
                                         Ended ended) {
  std::vector<Walk> deeper;
  auto buf = std::make_unique_for_overwrite<std::uint8_t[]>(kStackBuffer);
  std::vector<RemoteRead> reads;
  for (std::size_t first = 0; first < walks.size();) {
    reads.clear();
    std::size_t used = 0, end = first;
    for (; end < walks.size(); ++end) {
      const Goroutine& g = *walks[end].g;
      // From sched.sp, or from the first record when it lies below (arm64: sched.sp - 8).
      const std::uint64_t from = std::min(g.sched_sp, walks[end].bp);
      const std::size_t len = std::min<std::uint64_t>(g.stack_hi - from, kStackWindow);
      if (used + len > kStackBuffer) break;
      reads.push_back({from, len, buf.get() + used});
      used += len;
    }
    auto n = t.process().read_batch(reads, kMergeGap);
    if (!n) return std::unexpected(n.error());
    for (std::size_t i = 0; i < reads.size(); ++i) {
      Walk w = walks[first + i];
      const RemoteRead& r = reads[i];
      std::uint64_t used_end = r.addr;
      while (r.ok && w.bp >= r.addr && w.bp + 16 <= r.addr + r.len) {
        std::uint64_t record[2];
        std::memcpy(record, static_cast<const std::uint8_t*>(r.dest) + (w.bp - r.addr), 16);
        used_end = std::max(used_end, w.bp + 16);
        w.bp = u.follow(*w.g, w.bp, record);
      }
      // Every byte from sched.sp to the last record used: locals of the frames included,
      // which differ between two moments of a goroutine that ran in between.
      w.g->stack_hash = fnv1a(w.g->stack_hash, r.dest, used_end - r.addr);
      if (w.bp != 0)
        deeper.push_back(w);
      else
        ended(*w.g, r);
    }
    first = end;
  }
  return deeper;
}

// Unwinds all goroutines: their stack windows first, then what lies deeper in lock step,
// one frame record of every walk per read_batch. With opt.args, the words of each frame's
// arguments are taken from the window of a walk that ended in it (the bytes the walk read,
// so of the same moment and at no further read); only the goroutines whose words lie
// elsewhere (deeper stacks, no frame record to walk) have theirs read after.
Result<void> unwind_all(const GoProcess& t, PcFacts& facts, std::vector<Goroutine>& gs,
                        const ReadOptions& opt) {
  Unwinder u(t, facts, opt.max_depth);
  std::vector<char> args_taken(gs.size(), 0);
  auto take_args = [&](Goroutine& g, const RemoteRead& window) {
    if (!opt.args) return;
    const ArgsPlan p = plan_frame_args(t, facts, g);
    if (p.top > window.addr + window.len) return;  // beyond the window: read below
    take_frame_args(t, p, static_cast<const std::uint8_t*>(window.dest), window.addr, g);
    args_taken[std::size_t(&g - gs.data())] = 1;
  };
  std::vector<Walk> walks;
  for (auto& g : gs) {
    const std::uint64_t bp = u.start(g);
    if (bp == 0) continue;
    // arm64's first record is the innermost frame's, just below sched.sp
    // (caller_without_record); every later one is above it, as on amd64.
    const bool arm64_first = t.binary().isa() == Isa::Arm64 && bp + 8 == g.sched_sp;
    if (!Unwinder::on_stack(g, arm64_first ? g.sched_sp : bp))
      g.stack_truncated = true;
    else
      walks.push_back({&g, bp});
  }
  auto deeper = unwind_windows(t, u, std::move(walks), take_args);
  if (!deeper) return std::unexpected(deeper.error());
  walks = std::move(*deeper);
  std::vector<std::array<std::uint64_t, 2>> records;
  std::vector<RemoteRead> reads;
  while (!walks.empty()) {
    records.assign(walks.size(), {0, 0});
    reads.resize(walks.size());
    for (std::size_t i = 0; i < walks.size(); ++i) reads[i] = {walks[i].bp, 16, records[i].data()};
    auto n = t.process().read_batch(reads);
    if (!n) return std::unexpected(n.error());
    std::vector<Walk> next;
    for (std::size_t i = 0; i < walks.size(); ++i) {
      Walk w = walks[i];
      if (!reads[i].ok) {
        w.g->stack_truncated = true;
        continue;
      }
      w.g->stack_hash = fnv1a(w.g->stack_hash, records[i].data(), 16);
      w.bp = u.follow(*w.g, w.bp, records[i].data());
      if (w.bp != 0) next.push_back(w);
    }
    walks.swap(next);
  }
  if (!opt.args) return {};
  std::vector<Goroutine*> rest;
  for (std::size_t i = 0; i < gs.size(); ++i)
    if (!args_taken[i]) rest.push_back(&gs[i]);
  return read_frame_args(t, facts, rest);
}

// What two reads of one goroutine must agree on to describe one moment of it: the g's
// state and scheduler registers, its stack bounds (a stack copy moves them), the count of
// its stops (g.trackingSeq), and the stack's frames and bytes. A goroutine parks at the
// same pc and sp on every round of a loop and may leave the same bytes where a walk cut
// short by its running reads them, so neither the registers nor the bytes alone can tell
// that it ran in between; the count can (docs/go-runtime.md, "Reading a moving goroutine").
bool same_stack_moment(const Goroutine& a, const Goroutine& b) {
  return a.goid == b.goid && a.status == b.status && a.wait_reason == b.wait_reason &&
         a.tracking_seq == b.tracking_seq && a.sched_pc == b.sched_pc && a.sched_sp == b.sched_sp &&
         a.sched_bp == b.sched_bp && a.stack_lo == b.stack_lo && a.stack_hi == b.stack_hi &&
         a.pcs == b.pcs && a.stack_truncated == b.stack_truncated && a.stack_hash == b.stack_hash;
}

// The same, arguments included (when they were read).
bool same_moment(const Goroutine& a, const Goroutine& b) {
  return same_stack_moment(a, b) && a.arg_frames == b.arg_frames && a.arg_words == b.arg_words;
}

// Reads every goroutine of `out` again (g, then stack) and keeps a record only when the
// second read agrees with the first: a stack read while the goroutine ran is then never
// shown under the state its g had before. Those that changed are read again, each new read
// checked against the one before, up to opt.validate_rounds times; those still changing
// are marked torn. Goroutines that exited meanwhile are dropped.
// Goroutines read again at once by validate(): the second reads of a slice are held next to
// the first reads of all (at 100,000 goroutines, a second copy of all cost ~30 MiB).
constexpr std::size_t kValidateSlice = 8192;

// Reads the goroutines `slice` (indices into out.goroutines) again; appends to `changed`
// those whose two reads disagree (keeping the newer read) and marks those gone.
Result<void> read_again(const GoProcess& t, PcFacts& facts, const ReadOptions& opt,
                        GoroutineList& out, std::span<const std::size_t> slice,
                        std::vector<bool>& gone, std::vector<std::size_t>& changed) {
  std::vector<std::uint64_t> addrs;
  addrs.reserve(slice.size());
  for (auto i : slice) addrs.push_back(out.goroutines[i].g);
  std::vector<Goroutine> again(addrs.size());
  std::vector<bool> read(addrs.size(), false);
  std::uint64_t unreadable = 0;
  auto r = read_g_structs(t, addrs, unreadable, [&](std::size_t k, Goroutine g) {
    again[k] = std::move(g);
    read[k] = true;
  });
  if (!r) return r;
  if (auto u = unwind_all(t, facts, again, opt); !u) return u;
  for (std::size_t k = 0; k < slice.size(); ++k) {
    const std::size_t i = slice[k];
    if (read[k] && !is_live(again[k])) {
      gone[i] = true;
    } else if (!read[k] || !same_moment(out.goroutines[i], again[k])) {
      if (read[k]) out.goroutines[i] = std::move(again[k]);
      changed.push_back(i);
    }
  }
  return {};
}

Result<void> validate(const GoProcess& t, PcFacts& facts, const ReadOptions& opt,
                      GoroutineList& out) {
  std::vector<std::size_t> pending(out.goroutines.size());
  for (std::size_t i = 0; i < pending.size(); ++i) pending[i] = i;
  std::vector<bool> gone(out.goroutines.size(), false);
  for (int round = 0; round < opt.validate_rounds && !pending.empty(); ++round) {
    std::vector<std::size_t> changed;
    for (std::size_t at = 0; at < pending.size(); at += kValidateSlice) {
      const auto slice = std::span(pending).subspan(at, std::min(kValidateSlice, pending.size() - at));
      if (auto r = read_again(t, facts, opt, out, slice, gone, changed); !r) return r;
    }
    if (round > 0) out.reread += pending.size();
    pending.swap(changed);
  }
  for (auto i : pending) {
    auto& g = out.goroutines[i];
    g.torn = true;
    g.pcs.clear();
    g.arg_words.clear();
    g.arg_frames = 0;
    g.stack_truncated = false;
  }
  out.torn = pending.size();
  std::size_t kept = 0;
  for (std::size_t i = 0; i < out.goroutines.size(); ++i) {
    if (gone[i]) continue;
    if (kept != i) out.goroutines[kept] = std::move(out.goroutines[i]);  // never onto itself
    ++kept;
  }
  out.goroutines.resize(kept);
  return {};
}

// A running goroutine's registers are on its thread, not in g.sched: the thread that holds
// its g in Go's g register, with a sp on its stack, gives them (the thread may as well run
// the scheduler or C code, with another g or none there).
void place_running(const std::vector<ThreadRegisters>& threads, std::vector<Goroutine>& gs) {
  if (threads.empty()) return;
  for (auto& g : gs) {
    if (g.status != kGrunning) continue;
    for (const auto& r : threads) {
      if (r.g != g.g || r.sp < g.stack_lo || r.sp >= g.stack_hi) continue;
      g.sched_pc = r.pc;
      g.sched_sp = r.sp;
      g.sched_bp = r.bp;
      g.sched_lr = r.lr;
      g.from_registers = true;
      break;
    }
  }
}

Result<AllgsHeader> read_once(const GoProcess& t, PcFacts& facts, const ReadOptions& opt,
                              GoroutineList& out) {
  auto h = read_header(t);
  if (!h) return h;
  out.goroutines.clear();
  out.unreadable = 0;
  out.allglen = h->len;
  if (auto r = read_gs(t, *h, out); !r) return std::unexpected(r.error());
  out.reread = out.torn = 0;
  place_running(opt.threads, out.goroutines);
  if (opt.stacks) {
    if (auto r = unwind_all(t, facts, out.goroutines, opt); !r) return std::unexpected(r.error());
    if (opt.validate)
      if (auto r = validate(t, facts, opt, out); !r) return std::unexpected(r.error());
  }
  return h;
}

}  // namespace

Result<GoroutineList> read_goroutines(const GoProcess& t, const ReadOptions& opt) {
  if (t.layout().g_size <= 0 || t.layout().g_goid < 0 || t.layout().g_atomicstatus < 0)
    return fail(ErrorKind::Unsupported,
                "pid " + std::to_string(t.pid()) + ": runtime.g offsets are missing");
  GoroutineList out;
  out.pc_facts = opt.facts ? opt.facts : std::make_shared<PcFacts>(t);
  const auto syscalls0 = t.process().syscalls();
  for (out.attempts = 1;; ++out.attempts) {
    const auto start = monotonic_ns();
    auto before = read_once(t, *out.pc_facts, opt, out);
    if (!before) return std::unexpected(before.error());
    auto after = read_header(t);
    if (!after) return std::unexpected(after.error());
    out.read_at = monotonic_ns();
    out.read_ns = out.read_at - start;
    out.consistent = *before == *after;
    if (out.consistent || out.attempts >= opt.max_attempts) break;
  }
  out.syscalls = t.process().syscalls() - syscalls0;
  return out;
}

Result<void> read_args_again(const GoProcess& t, std::span<Goroutine* const> gs, PcFacts* facts) {
  std::optional<PcFacts> own;
  PcFacts& f = facts ? *facts : own.emplace(t);
  ReadOptions opt;
  opt.args = true;
  std::vector<std::uint64_t> addrs;
  addrs.reserve(gs.size());
  for (const Goroutine* g : gs) addrs.push_back(g->g);
  GoroutineList now;
  auto r = read_g_structs(t, addrs, now.unreadable, [&](std::size_t, Goroutine g) {
    if (is_live(g)) now.goroutines.push_back(std::move(g));
  });
  if (!r) return r;
  if (auto u = unwind_all(t, f, now.goroutines, opt); !u) return u;
  if (auto v = validate(t, f, opt, now); !v) return v;
  std::unordered_map<std::uint64_t, Goroutine*> by_g;
  for (auto& g : now.goroutines) by_g.emplace(g.g, &g);
  for (Goroutine* g : gs) {
    g->arg_words.clear();
    g->arg_frames = 0;
    auto it = by_g.find(g->g);
    // Only the words of the stack shown: a goroutine that moved on prints "(...)".
    if (it == by_g.end() || it->second->torn || !same_stack_moment(*g, *it->second)) continue;
    g->arg_words = std::move(it->second->arg_words);
    g->arg_frames = it->second->arg_frames;
  }
  return {};
}

std::string state_name(const GoProcess& t, const Goroutine& g) {
  const auto& l = t.layout();
  if (g.status == kGwaiting && g.wait_reason != 0 && g.wait_reason < l.wait_reasons.size())
    return l.wait_reasons[g.wait_reason];
  if (g.status < l.g_statuses.size() && !l.g_statuses[g.status].empty())
    return l.g_statuses[g.status];
  return "???";
}

bool is_system_goroutine(const GoProcess& t, const Goroutine& g) {
  auto f = t.function_at(g.startpc);
  return f && is_system_start_function(f->name);
}

}  // namespace goscry
