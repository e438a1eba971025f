#include "symbolizer/proc_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace goscry {
namespace {
thread_local int g_last_errno = 0;

std::unexpected<Error> fail_errno(const std::string& path, int err) {
  g_last_errno = err;
  return fail(path + ": " + std::strerror(err));
}
}  // namespace

int last_proc_errno() { return g_last_errno; }

Result<std::string> read_proc_file(const std::string& path, std::size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail_errno(path, errno);
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
    if (n < 0) return fail_errno(path, errno);
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
      g_last_errno = EFBIG;
      return fail(path + ": larger than " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  g_last_errno = 0;
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

std::string why_no_process(int pid) {
  const std::string who = "pid " + std::to_string(pid);
  auto stat = pid > 0 ? read_proc_file("/proc/" + std::to_string(pid) + "/stat", 1 << 16)
                      : Result<std::string>(fail(""));
  // comm may hold ')' and spaces: the fields after it are state, ppid, pgrp, session,
  // tty_nr, tpgid, flags.
  const std::size_t close = stat ? stat->rfind(')') : std::string::npos;
  if (close == std::string::npos || close + 2 >= stat->size())
    return "no process with pid " + std::to_string(pid);
  const char state = (*stat)[close + 2];
  if (state == 'Z' || state == 'X') return who + " has exited (a zombie its parent has not reaped yet)";
  std::string_view rest(*stat);
  rest.remove_prefix(close + 2);
  std::string_view flags;
  for (int i = 0; i < 7; ++i) flags = next_field(&rest);
  constexpr unsigned long kPfKthread = 0x00200000;  // PF_KTHREAD, include/linux/sched.h
  if (!flags.empty() && (std::stoul(std::string(flags)) & kPfKthread))
    return who + " is a kernel thread, not a program";
  return "no process with pid " + std::to_string(pid);
}

}  // namespace goscry
