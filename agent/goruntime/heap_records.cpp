#include "agent/goruntime/heap_records.h"

#include <chrono>
#include <cstring>

#include "agent/goruntime/profile_buckets.h"
#include "symbolizer/runtime_globals.h"

namespace goscry {

namespace {

constexpr std::uint64_t kMemProfileBucket = 1;  // runtime.memProfile, the bucketType of mbuckets
constexpr int kFutureCycles = 3;                // len(memRecord{}.future)
// What all bucket bodies (stacks and records) of one read may add up to.
constexpr std::size_t kMaxBodyBytes = 256u << 20;

std::string who(const GoProcess& t) { return "pid " + std::to_string(t.pid()); }

std::uint64_t u64_at(const std::uint8_t* p, int offset) {
  std::uint64_t v;
  std::memcpy(&v, p + offset, sizeof v);
  return v;
}

struct HeapGlobals {
  std::uint64_t mbuckets = 0;
  std::uint64_t rate = 0;
  std::uint64_t cycle = 0;
  std::string source;
};

Result<HeapGlobals> heap_globals(const GoProcess& t) {
  const auto& a = t.facts()->heap_profile;
  if (!a) return context(a.error(), who(t));
  return HeapGlobals{a->mbuckets + t.bias(), a->mem_profile_rate + t.bias(),
                     a->mprof_cycle + t.bias(), a->source};
}

// The memRecord part of the layout, checked as check_bucket_layout checks the bucket's:
// every word goscry reads must lie inside the struct it reads (a memRecordCycle of 16 or 32
// bytes).
Result<void> check_layout(const GoProcess& t) {
  if (auto r = check_bucket_layout(t); !r) return r;
  const RuntimeLayout& l = t.layout();
  for (int offset : {l.memrecord_active, l.memrecord_future, l.mrc_allocs, l.mrc_frees,
                     l.mrc_size})
    if (offset < 0)
      return fail(ErrorKind::Unsupported, who(t) + ": no layout of runtime.memRecord for " +
                                              t.go_version() + " (" + l.source + ")");
  auto inside = [](int offset, int size) { return offset < 0 || offset + 8 <= size; };
  const bool plausible =
      l.mrc_size <= 64 && inside(l.mrc_allocs, l.mrc_size) && inside(l.mrc_frees, l.mrc_size) &&
      inside(l.mrc_alloc_bytes, l.mrc_size) && inside(l.mrc_free_bytes, l.mrc_size) &&
      l.memrecord_active + l.mrc_size <= l.memrecord_future && l.memrecord_future <= 256;
  if (!plausible)
    return fail(ErrorKind::Unsupported,
                who(t) + ": implausible layout of runtime.memRecord (" + l.source + ")");
  return {};
}

std::size_t record_bytes(const RuntimeLayout& l) {
  return std::size_t(l.memrecord_future) + kFutureCycles * std::size_t(l.mrc_size);
}

Result<std::vector<BucketRef>> walk_heap_buckets(const GoProcess& t, std::uint64_t head,
                                                 const HeapReadOptions& opt) {
  return walk_buckets(t, head,
                      BucketWalk{"heap", kMemProfileBucket, record_bytes(t.layout()),
                                 opt.max_buckets, opt.max_frames, kMaxBodyBytes});
}

// One memRecordCycle: {allocs, frees, alloc_bytes, free_bytes}; the byte counts are
// objects x size where the runtime keeps none (1.27+).
struct Cycle {
  std::int64_t allocs = 0, frees = 0, alloc_bytes = 0, free_bytes = 0;
  bool operator==(const Cycle&) const = default;
  void add(const Cycle& o) {
    allocs += o.allocs;
    frees += o.frees;
    alloc_bytes += o.alloc_bytes;
    free_bytes += o.free_bytes;
  }
};

Cycle cycle_at(const RuntimeLayout& l, const std::uint8_t* p, std::int64_t size) {
  Cycle c;
  c.allocs = std::int64_t(u64_at(p, l.mrc_allocs));
  c.frees = std::int64_t(u64_at(p, l.mrc_frees));
  c.alloc_bytes = l.mrc_alloc_bytes >= 0 ? std::int64_t(u64_at(p, l.mrc_alloc_bytes))
                                         : c.allocs * size;
  c.free_bytes = l.mrc_free_bytes >= 0 ? std::int64_t(u64_at(p, l.mrc_free_bytes))
                                       : c.frees * size;
  return c;
}

// The bytes of each bucket's memRecord (and, with stacks, its stack before it).
struct Bodies {
  std::vector<std::uint8_t> bytes;
  std::vector<std::size_t> offsets;  // per bucket, into bytes
};

Result<Bodies> read_bodies(const GoProcess& t, const std::vector<BucketRef>& buckets,
                           bool stacks) {
  const RuntimeLayout& l = t.layout();
  Bodies out;
  std::size_t total = 0;
  for (const auto& b : buckets) {
    out.offsets.push_back(total);
    total += (stacks ? b.nstk * 8 : 0) + record_bytes(l);
  }
  out.bytes.resize(total);
  std::vector<RemoteRead> reads;
  reads.reserve(buckets.size());
  // Oldest bucket first: roughly ascending addresses, which read_batch merges.
  for (std::size_t i = buckets.size(); i-- > 0;) {
    const auto& b = buckets[i];
    const std::uint64_t stack_addr = b.addr + l.bucket_header;
    const std::uint64_t addr = stacks ? stack_addr : stack_addr + b.nstk * 8;
    const std::size_t len = (stacks ? b.nstk * 8 : 0) + record_bytes(l);
    reads.push_back({addr, len, out.bytes.data() + out.offsets[i], false});
  }
  auto n = t.process().read_batch(reads, 256);
  if (!n) return context(n.error(), who(t) + ": heap profile");
  for (const auto& r : reads)
    if (!r.ok)
      return fail(ErrorKind::Io,
                  who(t) + ": heap profile record at " + to_hex(r.addr) + " unreadable");
  return out;
}

// What MemProfile publishes from one bucket: active plus the cycle it flushes first
// (future[cycle % 3]); `all_futures` adds every future cycle, its answer before any GC.
Cycle published(const RuntimeLayout& l, const std::uint8_t* record, std::int64_t size,
                std::uint32_t cycle, bool all_futures) {
  Cycle c = cycle_at(l, record + l.memrecord_active, size);
  for (int i = 0; i < kFutureCycles; ++i)
    if (all_futures || std::uint32_t(i) == cycle % kFutureCycles)
      c.add(cycle_at(l, record + l.memrecord_future + i * l.mrc_size, size));
  return c;
}

struct Snapshot {
  std::vector<BucketRef> buckets;
  Bodies first;   // stacks and records
  Bodies second;  // records again, to see whether a flush ran under the read
  std::uint32_t cycle = 0;
  bool consistent = false;
};

// Bucket i's memRecord in `b`, read with or without the stack before it.
const std::uint8_t* record_of(const Bodies& b, std::size_t i, const BucketRef& ref,
                              bool with_stack) {
  return b.bytes.data() + b.offsets[i] + (with_stack ? ref.nstk * 8 : 0);
}

// Consistent when mProfCycle did not move and no bucket's published counts changed
// between the two reads of its record: mallocs and sweep frees go to other future cycles,
// so only a flush (or MemProfile in the target) changes them, and counts only grow.
bool unchanged(const RuntimeLayout& l, const Snapshot& s, std::uint32_t cycle_after) {
  if (cycle_after != s.cycle) return false;
  const std::uint32_t c = s.cycle >> 1;
  for (std::size_t i = 0; i < s.buckets.size(); ++i) {
    const auto& b = s.buckets[i];
    if (published(l, record_of(s.first, i, b, true), b.size, c, false) !=
        published(l, record_of(s.second, i, b, false), b.size, c, false))
      return false;
  }
  return true;
}

Result<Snapshot> read_snapshot(const GoProcess& t, const HeapGlobals& g,
                               const HeapReadOptions& opt) {
  Snapshot s;
  auto cycle = t.process().read_u32(g.cycle);
  if (!cycle) return context(cycle.error(), who(t) + ": runtime.mProfCycle");
  s.cycle = *cycle;
  auto head = t.process().read_u64(g.mbuckets);
  if (!head) return context(head.error(), who(t) + ": runtime.mbuckets");
  auto buckets = walk_heap_buckets(t, *head, opt);
  if (!buckets) return std::unexpected(buckets.error());
  s.buckets = std::move(*buckets);
  auto first = read_bodies(t, s.buckets, true);
  if (!first) return std::unexpected(first.error());
  s.first = std::move(*first);
  auto second = read_bodies(t, s.buckets, false);
  if (!second) return std::unexpected(second.error());
  s.second = std::move(*second);
  auto after = t.process().read_u32(g.cycle);
  if (!after) return context(after.error(), who(t) + ": runtime.mProfCycle");
  s.consistent = unchanged(t.layout(), s, *after);
  return s;
}

// No bucket has published counts: no GC completed yet, or none flushed a sample.
bool none_published(const RuntimeLayout& l, const Snapshot& s) {
  const std::uint32_t c = s.cycle >> 1;
  for (std::size_t i = 0; i < s.buckets.size(); ++i) {
    const auto& b = s.buckets[i];
    Cycle p = published(l, record_of(s.first, i, b, true), b.size, c, false);
    if (p.allocs != 0 || p.frees != 0) return false;
  }
  return true;
}

// The records of memProfileInternal(inuseZero=true): every bucket, with its published
// counts; when none has any (`clear`), every future cycle counts.
std::vector<HeapRecord> records_of(const RuntimeLayout& l, const Snapshot& s, bool clear) {
  const std::uint32_t c = s.cycle >> 1;
  std::vector<HeapRecord> out;
  out.reserve(s.buckets.size());
  for (std::size_t i = 0; i < s.buckets.size(); ++i) {
    const auto& b = s.buckets[i];
    const std::uint8_t* stack = s.first.bytes.data() + s.first.offsets[i];
    Cycle p = published(l, record_of(s.first, i, b, true), b.size, c, clear);
    HeapRecord r;
    r.stack.resize(b.nstk);
    for (std::size_t k = 0; k < b.nstk; ++k) r.stack[k] = u64_at(stack, int(k * 8));
    r.object_size = b.size;
    r.alloc_objects = p.allocs;
    r.free_objects = p.frees;
    r.alloc_bytes = p.alloc_bytes;
    r.free_bytes = p.free_bytes;
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

Result<std::uint64_t> mem_profile_rate_address(const GoProcess& t) {
  auto g = heap_globals(t);
  if (!g) return std::unexpected(g.error());
  return g->rate;
}

namespace {

Result<std::uint64_t> read_rate(const GoProcess& t, const HeapGlobals& g) {
  auto rate = t.process().read_u64(g.rate);
  if (!rate) return context(rate.error(), who(t) + ": runtime.MemProfileRate");
  return rate;
}

}  // namespace

Result<HeapStamp> read_heap_stamp(const GoProcess& t) {
  auto g = heap_globals(t);
  if (!g) return std::unexpected(g.error());
  auto rate = read_rate(t, *g);
  if (!rate) return std::unexpected(rate.error());
  auto cycle = t.process().read_u32(g->cycle);
  if (!cycle) return context(cycle.error(), who(t) + ": runtime.mProfCycle");
  return HeapStamp{*rate, *cycle};
}

Result<HeapRecords> read_heap_records(const GoProcess& t, const HeapReadOptions& opt) {
  const auto start = std::chrono::steady_clock::now();
  if (auto ok = check_layout(t); !ok) return std::unexpected(ok.error());
  auto g = heap_globals(t);
  if (!g) return std::unexpected(g.error());
  auto rate = read_rate(t, *g);
  if (!rate) return std::unexpected(rate.error());
  if (*rate == 0)
    return fail(
        ErrorKind::Unsupported,
        who(t) +
            ": runtime.MemProfileRate is 0: the program records no heap profile "
            "(nothing in it calls runtime.MemProfile, so its linker turned memory profiling "
            "off, or it set the rate to 0)");
  HeapRecords out;
  out.rate = std::int64_t(*rate);
  out.source = g->source;
  Snapshot s;
  for (out.attempts = 1;; ++out.attempts) {
    auto snap = read_snapshot(t, *g, opt);
    if (!snap) return std::unexpected(snap.error());
    s = std::move(*snap);
    if (s.consistent || out.attempts >= opt.max_attempts) break;
  }
  out.consistent = s.consistent;
  out.cycle = s.cycle;
  out.settled = !none_published(t.layout(), s);
  out.records = records_of(t.layout(), s, !out.settled);
  out.read_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now() - start)
                    .count();
  return out;
}

}  // namespace goscry
