#include "symbolizer/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace goscry {
namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

}  // namespace

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

Result<InputFile> InputFile::open(const std::string& path, const std::string& what) {
  const std::string name = what.empty() ? path : what + " " + path;
  // O_NONBLOCK: opening a FIFO without a writer returns instead of waiting for one.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return fail_errno(errno, name);
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return fail_errno(e, name);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(ErrorKind::BadInput, name + ": " + kind_of(st.st_mode) + ", not a regular file");
  }
  // Back to blocking reads: a regular file never blocks, and O_NONBLOCK would only matter
  // to a file system that honours it.
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return InputFile(fd, static_cast<std::size_t>(st.st_size));
}

Result<std::string> read_input_file(const std::string& path, const std::string& what,
                                    std::size_t max_bytes) {
  auto f = InputFile::open(path, what);
  // A settings file the user named that cannot be opened (missing, unreadable, a
  // directory) is a wrong command line or config: bad input, whatever the errno.
  if (!f)
    return std::unexpected(Error{ErrorKind::BadInput, f.error().message, f.error().error_number});
  const std::string name = what.empty() ? path : what + " " + path;
  auto too_big = [&] {
    return fail(ErrorKind::BadInput, name + ": larger than " + std::to_string(max_bytes) +
                                         " bytes, too big for " +
                                         (what.empty() ? "this file" : what));
  };
  if (f->size() > max_bytes) return too_big();
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(f->fd(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno(errno, name);
    if (n == 0) break;
    // The file may have grown since fstat.
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) return too_big();
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace goscry
