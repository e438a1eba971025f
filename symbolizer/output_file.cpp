#include "symbolizer/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

namespace goscry {
namespace {

std::string directory_of(const std::string& path) {
  auto dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

// A new, empty file next to `path`, named ".NAME.goscry-RANDOM", created so that nothing
// already there (a file, a symlink) is opened; its fd and name.
Result<std::pair<int, std::string>> create_temp_beside(const std::string& path) {
  const std::string dir = directory_of(path);
  const std::string base = std::filesystem::path(path).filename().string();
  std::random_device rd;
  for (int attempt = 0; attempt < 16; ++attempt) {
    char suffix[16];
    std::snprintf(suffix, sizeof suffix, "%08x", rd());
    std::string tmp = dir + "/." + base + ".goscry-" + suffix;
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0) return std::pair{fd, tmp};
    if (errno != EEXIST) return fail_errno(errno, path + ": cannot create a file in " + dir);
  }
  return fail(ErrorKind::Io, path + ": cannot create a temporary file in " + dir);
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// A writer of one piece.
PieceWriter whole(std::string_view bytes) {
  return [bytes](const PieceSink& sink) { return sink(bytes); };
}

}  // namespace

Result<void> check_output_path(const std::string& path, const std::string& what) {
  const std::string name = what + " " + path;
  if (path.empty()) return fail(ErrorKind::BadInput, what + ": empty path");
  struct stat st {};
  if (stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return fail(ErrorKind::BadInput, name + ": is a directory");
    if (!S_ISREG(st.st_mode))
      return fail(ErrorKind::BadInput, name + ": exists and is not a regular file");
  }
  const std::string dir = directory_of(path);
  // Every refusal here is of a path the user gave: bad input, whatever the errno.
  if (stat(dir.c_str(), &st) != 0) {
    const int err = errno;
    return std::unexpected(
        Error{ErrorKind::BadInput, name + ": directory " + dir + ": " + std::strerror(err), err});
  }
  if (!S_ISDIR(st.st_mode))
    return fail(ErrorKind::BadInput, name + ": " + dir + " is not a directory");
  // Writable for real (access() says yes to root on a read-only file system): create and
  // remove a temp file the way the write will.
  auto probe = create_temp_beside(path);
  if (!probe)
    return std::unexpected(
        Error{ErrorKind::BadInput, what + " " + probe.error().message, probe.error().error_number});
  ::close(probe->first);
  ::unlink(probe->second.c_str());
  return {};
}

Result<void> write_output_file(const std::string& path, std::string_view bytes) {
  return write_output_file(path, whole(bytes));
}

Result<void> write_output(const std::string& path, std::string_view bytes) {
  return write_output(path, whole(bytes));
}

Result<void> write_output_file(const std::string& path, const PieceWriter& writer) {
  auto tmp = create_temp_beside(path);
  if (!tmp) return std::unexpected(tmp.error());
  auto [fd, name] = *tmp;
  // The umask decides the final mode, as for any file the user creates.
  mode_t mask = umask(0);
  umask(mask);
  fchmod(fd, 0644 & ~mask);
  int err = 0;
  bool ok = writer([&](std::string_view piece) {
    if (write_all(fd, piece)) return true;
    err = errno;
    return false;
  });
  if (!ok && err == 0) err = EIO;  // the writer stopped on its own
  if (::close(fd) != 0 && ok) ok = false, err = errno;
  if (ok && ::rename(name.c_str(), path.c_str()) != 0) ok = false, err = errno;
  if (!ok) {
    ::unlink(name.c_str());
    return fail_errno(err, path + ": cannot write");
  }
  return {};
}

Result<void> write_output(const std::string& path, const PieceWriter& writer) {
  if (!path.empty() && path != "-") return write_output_file(path, writer);
  const bool ok = writer([](std::string_view piece) {
    return std::fwrite(piece.data(), 1, piece.size(), stdout) == piece.size();
  });
  if (std::fflush(stdout) != 0 || !ok) return fail_errno(errno, "stdout: cannot write");
  return {};
}

}  // namespace goscry
