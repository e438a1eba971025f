#include "symbolizer/process.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "symbolizer/proc_file.h"
#include "symbolizer/proc_stat.h"

namespace goscry {
namespace {

// The kernel's limit on iovec entries per process_vm_readv (UIO_MAXIOV).
constexpr std::size_t kMaxIov = 1024;
constexpr std::size_t kPage = 4096;

std::string proc_dir(pid_t pid) { return "/proc/" + std::to_string(pid); }

std::unexpected<Error> permission_denied(pid_t pid, const std::string& file, int err) {
  return std::unexpected(access_denied(pid, file, err));
}

std::unexpected<Error> no_process(pid_t pid) { return std::unexpected(why_no_process(pid)); }

// The state letter of /proc/PID/stat ('R', 'S', 'Z', ...), or 0 when there is no such process.
char process_state(pid_t pid) {
  auto stat = read_proc_stat(pid);
  return stat ? stat->state : 0;
}

}  // namespace

Result<std::unique_ptr<Process>> Process::attach_readonly(pid_t pid) {
  if (pid <= 0) return no_process(pid);
  struct stat st {};
  if (::stat(proc_dir(pid).c_str(), &st) != 0) return no_process(pid);

  std::unique_ptr<Process> p(new Process());
  p->pid_ = pid;
  // /proc/PID/mem is the memory-read permission check itself (PTRACE_MODE_ATTACH): if it
  // opens, process_vm_readv will be allowed too.
  p->mem_fd_ = ::open((proc_dir(pid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
  if (p->mem_fd_ < 0) {
    int err = errno;
    if (err == EACCES || err == EPERM) return permission_denied(pid, "mem", err);
    if (err == ENOENT || err == ESRCH) return no_process(pid);
    return fail_errno(err, proc_dir(pid) + "/mem");
  }
  char state = process_state(pid);
  if (state == 0) return no_process(pid);
  if (state == 'Z' || state == 'X') return no_process(pid);

  if (auto comm = read_proc_file(proc_dir(pid) + "/comm", 4096); comm) {
    p->comm_ = *comm;
    while (!p->comm_.empty() && p->comm_.back() == '\n') p->comm_.pop_back();
  }
  char buf[4096];
  ssize_t n = ::readlink((proc_dir(pid) + "/exe").c_str(), buf, sizeof buf - 1);
  if (n < 0) {
    int err = errno;
    if (err == EACCES || err == EPERM) return permission_denied(pid, "exe", err);
    if (err == ENOENT) return no_process(pid);
    return fail_errno(err, proc_dir(pid) + "/exe");
  }
  std::string exe(buf, static_cast<std::size_t>(n));
  constexpr std::string_view kDeleted = " (deleted)";
  if (exe.ends_with(kDeleted)) {
    p->exe_deleted_ = true;
    exe.resize(exe.size() - kDeleted.size());
  }
  p->exe_path_ = std::move(exe);
  return p;
}

Process::~Process() {
  if (mem_fd_ >= 0) ::close(mem_fd_);
}

std::string Process::exe_host_path() const {
  // /proc/PID/exe opens the very file the process runs even when its path was deleted or
  // replaced; /proc/PID/root/<path> is what the target's mount namespace has at that path.
  if (exe_deleted_) return proc_dir(pid_) + "/exe";
  return proc_root_path(pid_, exe_path_);
}

bool Process::alive() const {
  char state = process_state(pid_);
  return state != 0 && state != 'Z' && state != 'X';
}

std::unexpected<Error> Process::exited_or(const std::string& what) const {
  if (!alive()) return fail(ErrorKind::TargetGone, "process " + std::to_string(pid_) + " exited");
  return fail(ErrorKind::Io, "process " + std::to_string(pid_) + ": " + what);
}

std::unexpected<Error> Process::too_large(std::uint64_t addr, std::size_t len) const {
  return fail(ErrorKind::Io, "process " + std::to_string(pid_) + ": refusing to read " +
                                 std::to_string(len) + " bytes at " + to_hex(addr) +
                                 " in one piece (limit " + std::to_string(kMaxRead) + ")");
}

std::unexpected<Error> Process::read_error(int err, std::uint64_t addr, std::size_t len) const {
  if (err == ESRCH)
    return fail(ErrorKind::TargetGone, "process " + std::to_string(pid_) + " exited");
  if (err == EPERM || err == EACCES) {
    if (!alive()) return fail(ErrorKind::TargetGone, "process " + std::to_string(pid_) + " exited");
    return permission_denied(pid_, "mem", err);
  }
  std::string what = "cannot read " + std::to_string(len) + " bytes at " + to_hex(addr);
  if (err == EFAULT || err == EIO || err == 0) return exited_or(what + ": address not mapped");
  return exited_or(what + ": " + std::strerror(err));
}

long Process::vm_readv(std::span<RemoteRead> reads, std::size_t merge_gap, std::size_t& used,
                       std::size_t* ends) const {
  // The bytes between merged reads land here (their content is never looked at).
  static thread_local std::uint8_t gap_bytes[kPage];
  // Below a page, a gap only touches pages that also hold bytes of the reads around it: a
  // merged range fails exactly where one of its reads would have failed on its own.
  merge_gap = std::min(merge_gap, kPage - 1);
  iovec local[kMaxIov], remote[kMaxIov];
  std::size_t nl = 0, nr = 0, pos = 0;
  std::uint64_t end = 0;  // where the previous read ends in the target
  for (used = 0; used < reads.size(); ++used) {
    const RemoteRead& r = reads[used];
    const std::size_t gap = r.addr - end;
    const bool merge = nr > 0 && r.addr >= end && gap <= merge_gap;
    if (nl + (merge && gap ? 2 : 1) > kMaxIov || (!merge && nr == kMaxIov)) break;
    if (merge) {
      if (gap) local[nl++] = {gap_bytes, gap};
      remote[nr - 1].iov_len += gap + r.len;
      pos += gap;
    } else {
      remote[nr++] = {reinterpret_cast<void*>(static_cast<std::uintptr_t>(r.addr)), r.len};
    }
    local[nl++] = {r.dest, r.len};
    pos += r.len;
    ends[used] = pos;
    end = r.addr + r.len;
  }
  syscalls_.fetch_add(1, std::memory_order_relaxed);
  ssize_t got = ::process_vm_readv(pid_, local, nl, remote, nr, 0);
  return got < 0 ? -errno : got;
}

Result<void> Process::pread_mem(std::uint64_t addr, std::span<std::uint8_t> out) const {
  std::size_t done = 0;
  while (done < out.size()) {
    syscalls_.fetch_add(1, std::memory_order_relaxed);
    ssize_t n =
        ::pread(mem_fd_, out.data() + done, out.size() - done, static_cast<off_t>(addr + done));
    if (n < 0 && errno == EINTR) continue;
    // 0 bytes: the address space is gone (exited) or the range ends at an unmapped page.
    if (n <= 0) return read_error(n < 0 ? errno : 0, addr, out.size());
    done += static_cast<std::size_t>(n);
  }
  return {};
}

Result<std::size_t> Process::read_batch(std::span<RemoteRead> reads, std::size_t merge_gap) const {
  std::size_t ok = 0;
  std::size_t i = 0;
  std::size_t ends[kMaxIov];
  while (i < reads.size()) {
    if (use_mem_file_.load(std::memory_order_relaxed)) {
      auto& r = reads[i++];
      auto res = pread_mem(r.addr, {static_cast<std::uint8_t*>(r.dest), r.len});
      r.ok = bool(res);
      if (!res && !alive())
        return fail(ErrorKind::TargetGone, "process " + std::to_string(pid_) + " exited");
      ok += r.ok;
      continue;
    }
    std::span<RemoteRead> rest = reads.subspan(i);
    std::size_t used = 0;
    long got = vm_readv(rest, merge_gap, used, ends);
    if (got < 0) {
      int err = static_cast<int>(-got);
      // No process_vm_readv here (ENOSYS), or a seccomp policy forbids it (EPERM) although
      // /proc/PID/mem opened: fall back to the file for good.
      if (err == ENOSYS || (err == EPERM && alive())) {
        use_mem_file_.store(true, std::memory_order_relaxed);
        continue;
      }
      if (err != EFAULT) return read_error(err, rest[0].addr, rest[0].len);
      rest[0].ok = false;  // nothing was read: the first remote range is unmapped
      ++i;
      continue;
    }
    // Reads stop at the first unreadable page: mark the complete ones, fail the one that
    // page belongs to, and go on after it.
    std::size_t j = 0;
    for (; j < used && ends[j] <= static_cast<std::size_t>(got); ++j) {
      rest[j].ok = true;
      ++ok;
    }
    if (j < used) rest[j++].ok = false;
    i += j;
  }
  return ok;
}

Result<void> Process::read_into(std::uint64_t addr, std::span<std::uint8_t> out) const {
  if (out.size() > kMaxRead) return too_large(addr, out.size());
  if (out.empty()) return {};
  if (use_mem_file_.load(std::memory_order_relaxed)) return pread_mem(addr, out);
  RemoteRead r{addr, out.size(), out.data(), false};
  std::size_t used = 0, end = 0;
  long got = vm_readv({&r, 1}, 0, used, &end);
  if (got == static_cast<long>(out.size())) return {};
  int err = got < 0 ? static_cast<int>(-got) : EFAULT;
  if (err == ENOSYS || (err == EPERM && alive())) {
    use_mem_file_.store(true, std::memory_order_relaxed);
    return pread_mem(addr, out);
  }
  return read_error(err, addr, out.size());
}

Result<std::vector<std::uint8_t>> Process::read(std::uint64_t addr, std::size_t len) const {
  if (len > kMaxRead) return too_large(addr, len);
  std::vector<std::uint8_t> out(len);
  if (auto r = read_into(addr, out); !r) return std::unexpected(r.error());
  return out;
}

Result<std::uint64_t> Process::read_u64(std::uint64_t addr) const {
  std::uint64_t v = 0;
  if (auto r = read_into(addr, {reinterpret_cast<std::uint8_t*>(&v), sizeof v}); !r)
    return std::unexpected(r.error());
  return v;
}

Result<std::uint32_t> Process::read_u32(std::uint64_t addr) const {
  std::uint32_t v = 0;
  if (auto r = read_into(addr, {reinterpret_cast<std::uint8_t*>(&v), sizeof v}); !r)
    return std::unexpected(r.error());
  return v;
}

Result<std::uint8_t> Process::read_u8(std::uint64_t addr) const {
  std::uint8_t v = 0;
  if (auto r = read_into(addr, {&v, 1}); !r) return std::unexpected(r.error());
  return v;
}

}  // namespace goscry
