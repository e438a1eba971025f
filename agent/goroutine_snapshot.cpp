#include "agent/goroutine_snapshot.h"

#include <sys/uio.h>

#include <cerrno>
#include <cstring>

namespace goscry {

namespace {

constexpr std::uint32_t kGscan = 0x1000;
constexpr std::uint32_t kGdead = 6;
constexpr std::uint32_t kGdeadextra = 11;  // Go 1.26+: idle g of an extra M (cgo callbacks)
// allgs never shrinks; a few million gs would be hundreds of MiB of target memory. A
// larger allglen is a torn or corrupt read, not a program.
constexpr std::uint64_t kMaxGoroutines = 1u << 24;

std::string exited_or(int pid, int err) {
  if (err == ESRCH) return "process " + std::to_string(pid) + " exited";
  if (err == EPERM)
    return "permission denied reading the memory of pid " + std::to_string(pid) +
           ": run as root or grant CAP_SYS_PTRACE";
  return "cannot read the memory of pid " + std::to_string(pid) + ": " + std::strerror(err);
}

template <typename T>
T field(const std::uint8_t* g, int off) {
  T v;
  std::memcpy(&v, g + off, sizeof v);
  return v;
}

}  // namespace

Result<void> read_remote(int pid, std::uint64_t addr, std::span<std::uint8_t> out) {
  iovec local{out.data(), out.size()};
  iovec remote{reinterpret_cast<void*>(addr), out.size()};
  ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
  if (n < 0) {
    if (errno == EFAULT)
      return fail("pid " + std::to_string(pid) + ": address " + to_hex(addr) + " is not mapped");
    return fail(exited_or(pid, errno));
  }
  if (std::size_t(n) != out.size())
    return fail("pid " + std::to_string(pid) + ": short read at " + to_hex(addr));
  return {};
}

Result<GoroutineSnapshot> read_goroutines(int pid, const AllgAddresses& allg,
                                          const RuntimeLayout& l) {
  if (l.g_size <= 0 || l.g_goid < 0 || l.g_gopc < 0 || l.g_startpc < 0 || l.g_atomicstatus < 0)
    return fail("runtime layout: runtime.g offsets are missing");
  GoroutineSnapshot snap;
  std::uint64_t base = 0;
  // allglen first, then the pointer: the runtime publishes the pointer before the length.
  if (auto r = read_remote(pid, allg.allglen, {reinterpret_cast<std::uint8_t*>(&snap.allglen), 8});
      !r)
    return std::unexpected(r.error());
  if (auto r = read_remote(pid, allg.allgptr, {reinterpret_cast<std::uint8_t*>(&base), 8}); !r)
    return std::unexpected(r.error());
  if (snap.allglen > kMaxGoroutines)
    return fail("pid " + std::to_string(pid) + ": implausible runtime.allglen " +
                std::to_string(snap.allglen));
  std::vector<std::uint64_t> gptrs(snap.allglen);
  if (snap.allglen) {
    auto r = read_remote(pid, base, {reinterpret_cast<std::uint8_t*>(gptrs.data()), gptrs.size() * 8});
    if (!r) return std::unexpected(r.error());
  }
  std::vector<std::uint8_t> g(std::size_t(l.g_size));
  for (std::uint64_t gp : gptrs) {
    // One syscall per g keeps a bad pointer from failing its neighbours; this runs once
    // per attach (10,000 goroutines: ~10 ms).
    if (!read_remote(pid, gp, g)) {
      if (auto alive = read_remote(pid, allg.allglen, {g.data(), 8}); !alive)
        return std::unexpected(alive.error());
      ++snap.unreadable;
      continue;
    }
    const std::uint32_t status = field<std::uint32_t>(g.data(), l.g_atomicstatus) & ~kGscan;
    if (status == kGdead || status == kGdeadextra || status == 0) continue;
    snap.alive.push_back({field<std::uint64_t>(g.data(), l.g_goid),
                          field<std::uint64_t>(g.data(), l.g_gopc),
                          field<std::uint64_t>(g.data(), l.g_startpc), status});
  }
  return snap;
}

}  // namespace goscry
