#include "agent/goruntime/goroutine_count.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "symbolizer/runtime_globals.h"

namespace goscry {

namespace {

// Go caps GOMAXPROCS at 1024 (_MaxGomaxprocs in 1.19-1.27); a longer allp is a bad read.
constexpr std::uint64_t kMaxPs = 1 << 10;

std::optional<CodeRange> range_of(const GoBinary& bin, std::string_view name) {
  auto f = bin.find_function(name);
  if (!f) return std::nullopt;
  return CodeRange{f->entry, f->end};
}

Result<std::int64_t> read_i32(const Process& p, std::uint64_t addr, const char* what) {
  auto v = p.read_u32(addr);
  if (!v) return context(v.error(), what);
  return std::int64_t(std::int32_t(*v));
}

}  // namespace

Result<GoroutineCounter> GoroutineCounter::locate(const GoBinary& bin,
                                                  const RuntimeLayout& l,
                                                  std::uint64_t bias) {
  const ElfFile& elf = bin.elf();
  const bool split = l.sched_gfree_stack_size >= 0 && l.sched_gfree_nostack_size >= 0;
  const int p_free = l.p_gfree_n >= 0 ? l.p_gfree_n : l.p_gfree_size;
  if (l.sched_ngsys < 0 || (l.sched_gfree_n < 0 && !split) || p_free < 0)
    return fail(ErrorKind::Unsupported,
                elf.path() + ": runtime layout (" + l.source +
                    ") lacks schedt.ngsys, schedt.gFree's or p.gFree's count");
  auto allg = find_allg(elf, range_of(bin, "runtime.forEachGRace"));
  if (!allg) return std::unexpected(allg.error());
  auto sched = find_sched(elf, range_of(bin, "runtime.newproc1"), l.sched_goidgen);
  if (!sched) return std::unexpected(sched.error());
  auto allp = find_allp(elf, range_of(bin, "runtime.retake"));
  if (!allp) return std::unexpected(allp.error());
  GoroutineCounter c;
  c.allglen_ = allg->allglen + bias;
  c.sched_ = *sched + bias;
  c.allp_ = *allp + bias;
  c.sched_ngsys_ = l.sched_ngsys;
  c.sched_free_ = l.sched_gfree_n;
  c.sched_free_stack_ = l.sched_gfree_stack_size;
  c.sched_free_nostack_ = l.sched_gfree_nostack_size;
  c.p_free_ = p_free;
  return c;
}

Result<std::int64_t> GoroutineCounter::free_on_sched(const Process& p) const {
  if (sched_free_ >= 0) return read_i32(p, sched_ + sched_free_, "runtime.sched.gFree.n");
  auto stack = read_i32(p, sched_ + sched_free_stack_, "runtime.sched.gFree.stack.size");
  if (!stack) return stack;
  auto nostack = read_i32(p, sched_ + sched_free_nostack_, "runtime.sched.gFree.noStack.size");
  if (!nostack) return nostack;
  return *stack + *nostack;
}

Result<std::int64_t> GoroutineCounter::free_on_ps(const Process& p) const {
  auto ptr = p.read_u64(allp_);
  auto len = p.read_u64(allp_ + 8);
  if (!ptr || !len) return context((!ptr ? ptr : len).error(), "runtime.allp");
  if (*len > kMaxPs)
    return fail(ErrorKind::BadInput, "runtime.allp: " + std::to_string(*len) +
                                         " Ps, more than Go allows (" +
                                         std::to_string(kMaxPs) + ")");
  auto ps = p.read(*ptr, *len * 8);
  if (!ps) return context(ps.error(), "runtime.allp's array");
  std::vector<RemoteRead> reads(*len);
  std::vector<std::uint32_t> counts(*len, 0);
  for (std::uint64_t i = 0; i < *len; ++i) {
    std::uint64_t pp = 0;
    std::copy_n(ps->data() + i * 8, 8, reinterpret_cast<std::uint8_t*>(&pp));
    reads[i] = RemoteRead{pp + std::uint64_t(p_free_), 4, &counts[i]};
  }
  auto n = p.read_batch(reads);
  if (!n) return context(n.error(), "the Ps' gFree counts");
  if (*n != reads.size()) return fail(ErrorKind::BadInput, "runtime.allp: an unreadable P");
  std::int64_t sum = 0;
  for (auto c : counts) sum += std::int32_t(c);
  return sum;
}

Result<std::int64_t> GoroutineCounter::read(const Process& p) const {
  // gcount()'s order: allglen first, so a goroutine allocated after it is not subtracted
  // as free without having been counted.
  auto allglen = p.read_u64(allglen_);
  if (!allglen) return context(allglen.error(), "runtime.allglen");
  auto sched_free = free_on_sched(p);
  if (!sched_free) return sched_free;
  auto ngsys = read_i32(p, sched_ + sched_ngsys_, "runtime.sched.ngsys");
  if (!ngsys) return ngsys;
  auto p_free = free_on_ps(p);
  if (!p_free) return p_free;
  // "at least the current goroutine is running" (gcount): the runtime's floor too.
  return std::max<std::int64_t>(std::int64_t(*allglen) - *sched_free - *ngsys - *p_free, 1);
}

}  // namespace goscry
