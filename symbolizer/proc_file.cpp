#include "symbolizer/proc_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace goscry {
Result<std::string> read_proc_file(const std::string& path, std::size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail_errno(errno, path);
  auto out = read_open_file(fd, path, max_bytes);
  ::close(fd);
  return out;
}

Result<std::string> read_open_file(int fd, const std::string& path, std::size_t max_bytes) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno(errno, path);
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes)
      return fail(ErrorKind::Io, path + ": larger than " + std::to_string(max_bytes) + " bytes");
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

std::string_view next_field(std::string_view* line, std::string_view separators) {
  std::size_t b = line->find_first_not_of(separators);
  if (b == std::string_view::npos) {
    *line = {};
    return {};
  }
  line->remove_prefix(b);
  std::size_t e = line->find_first_of(separators);
  std::string_view f = line->substr(0, e);
  line->remove_prefix(e == std::string_view::npos ? line->size() : e);
  return f;
}

namespace {

// CAP_SYS_PTRACE in this process's effective set (/proc/self/status "CapEff").
bool has_cap_sys_ptrace() {
  constexpr int kCapSysPtrace = 19;  // include/uapi/linux/capability.h
  auto status = read_proc_file("/proc/self/status", 1 << 16);
  if (!status) return false;
  const auto at = status->find("\nCapEff:");
  if (at == std::string::npos) return false;
  const auto caps = std::strtoull(status->c_str() + at + 8, nullptr, 16);
  return (caps >> kCapSysPtrace) & 1;
}

// Why the kernel refused. Without CAP_SYS_PTRACE that is the reason (and root without it
// is told so, not to run as root); with it, something capabilities do not override.
std::string refusal_cause() {
  if (!has_cap_sys_ptrace())
    return geteuid() == 0
               ? "goscry runs as root but without CAP_SYS_PTRACE (containers drop it): grant it"
               : "run as root or grant CAP_SYS_PTRACE";
  auto yama = read_proc_file("/proc/sys/kernel/yama/ptrace_scope", 64);
  if (yama && std::atoi(yama->c_str()) >= 3)
    return "kernel.yama.ptrace_scope = 3 forbids it even with CAP_SYS_PTRACE";
  return std::string(geteuid() == 0 ? "refused to root" : "refused") +
         " with CAP_SYS_PTRACE too, so not for lack of privileges: a security module "
         "(SELinux, AppArmor, Landlock, lockdown), a sandbox, or a user namespace goscry's "
         "does not own forbids it";
}

}  // namespace

Error access_denied(int pid, const std::string& file, int err) {
  return {ErrorKind::Permission,
          "permission denied reading /proc/" + std::to_string(pid) + "/" + file + ": " +
              refusal_cause(),
          err};
}

Error why_no_process(int pid) {
  const std::string who = "pid " + std::to_string(pid);
  auto stat = pid > 0 ? read_proc_file("/proc/" + std::to_string(pid) + "/stat", 1 << 16)
                      : Result<std::string>(fail(ErrorKind::NotFound, ""));
  // comm may hold ')' and spaces: the fields after it are state, ppid, pgrp, session,
  // tty_nr, tpgid, flags.
  const std::size_t close = stat ? stat->rfind(')') : std::string::npos;
  if (close == std::string::npos || close + 2 >= stat->size())
    return {ErrorKind::NotFound, "no process with pid " + std::to_string(pid), 0};
  const char state = (*stat)[close + 2];
  if (state == 'Z' || state == 'X')
    return {ErrorKind::TargetGone, who + " has exited (a zombie its parent has not reaped yet)", 0};
  std::string_view rest(*stat);
  rest.remove_prefix(close + 2);
  std::string_view flags;
  for (int i = 0; i < 7; ++i) flags = next_field(&rest);
  constexpr unsigned long kPfKthread = 0x00200000;  // PF_KTHREAD, include/linux/sched.h
  if (!flags.empty() && (std::stoul(std::string(flags)) & kPfKthread))
    return {ErrorKind::Unsupported, who + " is a kernel thread, not a program", 0};
  return {ErrorKind::NotFound, "no process with pid " + std::to_string(pid), 0};
}

}  // namespace goscry
