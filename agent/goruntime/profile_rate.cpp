#include "agent/goruntime/profile_rate.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace goscry {

namespace {

// Closes the descriptor however the write ends.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

Result<std::int64_t> read_word(int fd, std::uint64_t address, const std::string& what) {
  std::int64_t v = 0;
  const ssize_t n = pread(fd, &v, sizeof v, off_t(address));
  if (n < 0) return fail_errno(errno, what);
  if (n != sizeof v) return fail(ErrorKind::Io, what + ": short read");
  return v;
}

}  // namespace

Result<RateWrite> write_profile_rate(const GoProcess& t, std::uint64_t address,
                                     std::int64_t value, const std::string& name) {
  const std::string what = "pid " + std::to_string(t.pid()) + ": " + name + " at " +
                           to_hex(address);
  // One aligned word: the store is a single 8-byte copy, which the runtime's own atomic
  // loads of the variable see whole.
  if (address % 8 != 0) return fail(ErrorKind::Unsupported, what + ": not 8-byte aligned");
  const std::string mem = "/proc/" + std::to_string(t.pid()) + "/mem";
  Fd f{open(mem.c_str(), O_RDWR | O_CLOEXEC)};
  if (f.fd < 0) return fail_errno(errno, what + ": " + mem);
  RateWrite w{address, 0, 0};
  auto before = read_word(f.fd, address, what);
  if (!before) return std::unexpected(before.error());
  w.before = *before;
  const ssize_t n = pwrite(f.fd, &value, sizeof value, off_t(address));
  if (n < 0) return fail_errno(errno, what + ": write");
  if (n != sizeof value) return fail(ErrorKind::Io, what + ": short write");
  auto after = read_word(f.fd, address, what);
  if (!after) return std::unexpected(after.error());
  w.after = *after;
  if (w.after != value)
    return fail(ErrorKind::Io, what + ": read back " + std::to_string(w.after) + " after writing " +
                                   std::to_string(value));
  return w;
}

std::int64_t block_rate_in_ticks(std::int64_t nanoseconds, std::int64_t ticks_per_second) {
  if (nanoseconds <= 0) return 0;
  if (nanoseconds == 1) return 1;
  const auto r = std::int64_t(double(nanoseconds) * double(ticks_per_second) / 1e9);
  return r == 0 ? 1 : r;
}

}  // namespace goscry
