#include "agent/goruntime/goroutine_snapshot.h"

#include <cstring>

namespace goscry {

namespace {

constexpr std::uint32_t kGscan = 0x1000;
constexpr std::uint32_t kGdead = 6;
constexpr std::uint32_t kGdeadextra = 11;  // Go 1.26+: idle g of an extra M (cgo callbacks)
// allgs never shrinks; a few million gs would be GiBs of target memory. A larger allglen
// is a torn or corrupt read, not a program.
constexpr std::uint64_t kMaxGoroutines = 1u << 22;

template <typename T>
T field(const std::uint8_t* g, int off) {
  T v;
  std::memcpy(&v, g + off, sizeof v);
  return v;
}

}  // namespace

Result<GoroutineSnapshot> read_goroutines(const Process& process, const AllgAddresses& allg,
                                          const RuntimeLayout& l) {
  if (l.g_size <= 0 || l.g_goid < 0 || l.g_gopc < 0 || l.g_startpc < 0 || l.g_atomicstatus < 0)
    return fail(ErrorKind::Unsupported, "runtime layout: runtime.g offsets are missing");
  GoroutineSnapshot snap;
  // allglen first, then the pointer: the runtime publishes the pointer before the length,
  // so the pair read in this order describes a valid prefix of allgs.
  auto len = process.read_u64(allg.allglen);
  if (!len) return std::unexpected(len.error());
  auto base = process.read_u64(allg.allgptr);
  if (!base) return std::unexpected(base.error());
  snap.allglen = *len;
  if (snap.allglen > kMaxGoroutines)
    return fail(ErrorKind::Io, "pid " + std::to_string(process.pid()) +
                                   ": implausible runtime.allglen " + std::to_string(snap.allglen));
  std::vector<std::uint64_t> gptrs(snap.allglen);
  if (snap.allglen) {
    auto r = process.read_into(*base, {reinterpret_cast<std::uint8_t*>(gptrs.data()),
                                       gptrs.size() * sizeof(std::uint64_t)});
    if (!r) return std::unexpected(r.error());
  }
  // Every g in a few batched syscalls; a g that cannot be read fails only itself.
  const std::size_t gsize = std::size_t(l.g_size);
  std::vector<std::uint8_t> buf(gptrs.size() * gsize);
  std::vector<RemoteRead> reads(gptrs.size());
  for (std::size_t i = 0; i < gptrs.size(); ++i)
    reads[i] = {gptrs[i], gsize, buf.data() + i * gsize, false};
  auto ok = process.read_batch(reads);
  if (!ok) return std::unexpected(ok.error());
  for (const auto& r : reads) {
    if (!r.ok) {
      ++snap.unreadable;
      continue;
    }
    const auto* g = static_cast<const std::uint8_t*>(r.dest);
    const std::uint32_t status = field<std::uint32_t>(g, l.g_atomicstatus) & ~kGscan;
    if (status == kGdead || status == kGdeadextra || status == 0) continue;
    snap.alive.push_back({field<std::uint64_t>(g, l.g_goid), field<std::uint64_t>(g, l.g_gopc),
                          field<std::uint64_t>(g, l.g_startpc), status});
  }
  return snap;
}

}  // namespace goscry
