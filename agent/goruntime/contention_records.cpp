#include "agent/goruntime/contention_records.h"


#include <chrono>
#include <cstring>
#include <thread>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "agent/base/monotonic_clock.h"
#include "agent/goruntime/profile_buckets.h"
#include "symbolizer/buildinfo.h"  // go_minor_version

namespace goscry {

namespace {

// bucketType of runtime/mprof.go: 2 blockProfile, 3 mutexProfile.
constexpr std::uint64_t kBlockBucket = 2;
constexpr std::uint64_t kMutexBucket = 3;
// blockRecord{count float64; cycles int64} after the stack, in every release 1.19-1.27.
constexpr std::size_t kBlockRecordBytes = 16;

std::string who(const GoProcess& t) { return "pid " + std::to_string(t.pid()); }

std::uint64_t u64_at(const std::uint8_t* p, std::size_t offset) {
  std::uint64_t v;
  std::memcpy(&v, p + offset, sizeof v);
  return v;
}

// Each bucket's stack and blockRecord, one batch of reads.
Result<std::vector<ContentionRecord>> read_bodies(const GoProcess& t,
                                                  const std::vector<BucketRef>& buckets) {
  const RuntimeLayout& l = t.layout();
  std::vector<std::vector<std::uint8_t>> bodies(buckets.size());
  std::vector<RemoteRead> reads;
  reads.reserve(buckets.size());
  for (std::size_t i = buckets.size(); i-- > 0;) {  // oldest first: ascending addresses
    bodies[i].resize(buckets[i].nstk * 8 + kBlockRecordBytes);
    reads.push_back({buckets[i].addr + std::uint64_t(l.bucket_header), bodies[i].size(),
                     bodies[i].data(), false});
  }
  auto n = t.process().read_batch(reads, 256);
  if (!n) return context(n.error(), who(t) + ": contention profile");
  for (const auto& r : reads)
    if (!r.ok)
      return fail(ErrorKind::Io,
                  who(t) + ": contention profile record at " + to_hex(r.addr) + " unreadable");
  std::vector<ContentionRecord> out(buckets.size());
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    const std::uint8_t* p = bodies[i].data();
    const std::size_t nstk = buckets[i].nstk;
    out[i].stack.resize(nstk);
    for (std::size_t k = 0; k < nstk; ++k) out[i].stack[k] = u64_at(p, k * 8);
    double count;
    std::memcpy(&count, p + nstk * 8, sizeof count);
    // int64(bp.count), and 1 for 0 "so callers need not fear a division by zero"; a
    // hostile NaN or huge value is clamped rather than left undefined.
    const bool sane = count >= 0 && count < 9.2e18;
    out[i].count = sane ? std::int64_t(count) : 0;
    if (out[i].count == 0) out[i].count = 1;
    out[i].cycles = std::int64_t(u64_at(p, nstk * 8 + 8));
  }
  return out;
}

// runtime.cputicks: the TSC on amd64; nanotime elsewhere.
std::int64_t cputicks() {
#if defined(__x86_64__)
  return std::int64_t(__rdtsc());
#else
  return monotonic_ns();
#endif
}

// The ticks of 20 ms of CLOCK_MONOTONIC, as the runtime of 1.19-1.21 measures them over
// 100 ms the first time it is asked.
std::int64_t measured_ticks_per_second() {
  const std::int64_t t0 = monotonic_ns(), c0 = cputicks();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const std::int64_t t1 = monotonic_ns(), c1 = cputicks();
  return std::max<std::int64_t>(1, std::int64_t(double(c1 - c0) * 1e9 / double(t1 - t0)));
}

}  // namespace

const char* contention_name(ContentionKind kind) {
  return kind == ContentionKind::kBlock ? "block" : "mutex";
}

Result<ContentionProfileAddresses> contention_globals(const GoProcess& t) {
  auto a = t.facts()->contention_profile;
  if (!a) return context(a.error(), who(t));
  a->bbuckets += t.bias();
  a->xbuckets += t.bias();
  a->block_rate += t.bias();
  a->mutex_rate += t.bias();
  if (a->ticks) *a->ticks += t.bias();
  return a;
}

std::int64_t target_ticks_per_second(const GoProcess& t, const ContentionProfileAddresses& a,
                                     std::string& source) {
  const int minor = go_minor_version(t.go_version()).value_or(0);
  if (a.ticks) {
    // runtime.ticks: {lock mutex; pad uint32; val uint64} in 1.19, {lock; val} in
    // 1.20-1.21, {lock; startTicks; startTime; val} from 1.22.
    const std::uint64_t val = *a.ticks + (minor <= 19 ? 16 : minor <= 21 ? 8 : 24);
    if (auto v = t.process().read_u64(val); v && *v != 0 && std::int64_t(*v) > 0) {
      source = "runtime.ticks";
      return std::int64_t(*v);
    }
    auto start_ticks = t.process().read_u64(*a.ticks + 8);
    auto start_time = t.process().read_u64(*a.ticks + 16);
    if (minor >= 22 && start_ticks && start_time) {
      const std::int64_t now_time = monotonic_ns(), now_ticks = cputicks();
      const std::int64_t dt = now_time - std::int64_t(*start_time);
      // The runtime's own rule: only over more than 5 ms.
      if (now_ticks > std::int64_t(*start_ticks) && dt > 5'000'000) {
        source = "runtime.ticks start";
        return std::max<std::int64_t>(
            1, std::int64_t(double(now_ticks - std::int64_t(*start_ticks)) * 1e9 / double(dt)));
      }
    }
  }
  source = "measured";
  return measured_ticks_per_second();
}

Result<ContentionRecords> read_contention_records(const GoProcess& t, ContentionKind kind,
                                                  const ContentionReadOptions& opt) {
  const auto start = std::chrono::steady_clock::now();
  if (auto ok = check_bucket_layout(t); !ok) return std::unexpected(ok.error());
  auto g = contention_globals(t);
  if (!g) return std::unexpected(g.error());
  const bool block = kind == ContentionKind::kBlock;
  const std::string rate_name = block ? "runtime.blockprofilerate" : "runtime.mutexprofilerate";
  auto rate = t.process().read_u64(block ? g->block_rate : g->mutex_rate);
  if (!rate) return context(rate.error(), who(t) + ": " + rate_name);
  auto head = t.process().read_u64(block ? g->bbuckets : g->xbuckets);
  if (!head)
    return context(head.error(),
                   who(t) + ": " + (block ? "runtime.bbuckets" : "runtime.xbuckets"));
  // A contention record is small; 256 MiB of stacks and records bounds the read as the
  // heap profile's is.
  auto buckets = walk_buckets(
      t, *head,
      BucketWalk{contention_name(kind), block ? kBlockBucket : kMutexBucket, kBlockRecordBytes,
                 opt.max_buckets, opt.max_frames, std::size_t(256) << 20});
  if (!buckets) return std::unexpected(buckets.error());
  auto records = read_bodies(t, *buckets);
  if (!records) return std::unexpected(records.error());
  ContentionRecords out;
  out.kind = kind;
  out.rate = std::int64_t(*rate);
  out.records = std::move(*records);
  out.source = g->source;
  out.ticks_per_second = target_ticks_per_second(t, *g, out.ticks_source);
  out.read_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now() - start)
                    .count();
  return out;
}

}  // namespace goscry
