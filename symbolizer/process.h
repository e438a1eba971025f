// A live process seen read-only from outside: its binary, its name, its address space,
// and reads of its memory. Nothing here stops, traces or writes to the target: memory is
// read with process_vm_readv (one syscall for many small reads), or, where that syscall
// is unavailable (seccomp, old kernels), with pread on /proc/PID/mem.
//
// The target can exit at any moment; every read then fails with "process PID exited"
// instead of crashing or returning garbage.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "symbolizer/error.h"
#include "symbolizer/proc_maps.h"

namespace goscry {

// One read of a batch: `len` bytes at the target's `addr` into our `dest`.
struct RemoteRead {
  std::uint64_t addr = 0;
  std::size_t len = 0;
  void* dest = nullptr;
  bool ok = false;  // set by read_batch
};

class Process {
 public:
  // Checks that the process exists and that we may read its memory; reads its exe and comm.
  // Errors: "no process with pid 4242" (NotFound), "permission denied reading
  // /proc/4242/mem: run as root or grant CAP_SYS_PTRACE" (Permission; the cause named is
  // the true one for root too, see access_denied in proc_file.h).
  static Result<std::unique_ptr<Process>> attach_readonly(pid_t pid);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  // The binary's path as the target sees it (inside its mount namespace), without a
  // trailing " (deleted)".
  const std::string& exe_path() const { return exe_path_; }
  bool exe_deleted() const { return exe_deleted_; }
  // The path that opens the same file from our side: /proc/PID/root/<exe>, or /proc/PID/exe
  // itself when the file was deleted or replaced.
  std::string exe_host_path() const;
  const std::string& comm() const { return comm_; }

  Result<ProcMaps> maps() const { return ProcMaps::read(pid_); }
  // Whether the process still exists (and is not a zombie).
  bool alive() const;

  // `len` bytes at `addr`. Fails when any byte is unreadable or the process exited.
  Result<std::vector<std::uint8_t>> read(std::uint64_t addr, std::size_t len) const;
  Result<void> read_into(std::uint64_t addr, std::span<std::uint8_t> out) const;
  Result<std::uint64_t> read_u64(std::uint64_t addr) const;
  Result<std::uint32_t> read_u32(std::uint64_t addr) const;
  Result<std::uint8_t> read_u8(std::uint64_t addr) const;

  // Many small reads with few syscalls (IOV_MAX per process_vm_readv). Each read's `ok`
  // says whether it was filled; an unmapped address fails only its own read. The call
  // fails as a whole only when the process exited or we lost permission. Returns how many
  // reads succeeded.
  // With merge_gap > 0, a read starting at most merge_gap bytes (capped below a page) after
  // the previous one ends extends the previous remote range: the kernel pins pages once per
  // remote range, so thousands of neighbouring small reads (g structs of one heap span) cost
  // a few page walks instead of thousands. Pass reads in address order to benefit.
  Result<std::size_t> read_batch(std::span<RemoteRead> reads, std::size_t merge_gap = 0) const;

  // How many syscalls the reads made so far (the dump verb reports it).
  std::uint64_t syscalls() const { return syscalls_.load(std::memory_order_relaxed); }

  // Largest single read: a corrupt pointer or length in the target must not make us
  // allocate gigabytes.
  static constexpr std::size_t kMaxRead = 64u << 20;

 private:
  Process() = default;
  std::unexpected<Error> exited_or(const std::string& what) const;
  std::unexpected<Error> too_large(std::uint64_t addr, std::size_t len) const;
  std::unexpected<Error> read_error(int err, std::uint64_t addr, std::size_t len) const;
  // One process_vm_readv over a prefix of `reads` (up to kMaxIov iovecs a side); `used` is
  // its length and ends[i] where read i ends in the bytes read. Returns bytes read or -errno.
  long vm_readv(std::span<RemoteRead> reads, std::size_t merge_gap, std::size_t& used,
                std::size_t* ends) const;
  Result<void> pread_mem(std::uint64_t addr, std::span<std::uint8_t> out) const;

  pid_t pid_ = 0;
  int mem_fd_ = -1;
  std::string exe_path_;
  bool exe_deleted_ = false;
  std::string comm_;
  // Set once process_vm_readv turns out to be unavailable; then /proc/PID/mem is used.
  mutable std::atomic<bool> use_mem_file_{false};
  mutable std::atomic<std::uint64_t> syscalls_{0};
};

}  // namespace goscry
