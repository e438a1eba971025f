// Files a user names (--config, --web.config.file, a certificate, --exe) are hostile input
// like any other: a FIFO would block open() or read() forever, /dev/zero never ends, a
// directory reads as nothing. Every such file is opened here: O_NONBLOCK so that opening a
// FIFO returns at once, then fstat, and only a regular file of bounded size is read.
#pragma once

#include <cstddef>
#include <string>

#include "symbolizer/error.h"

namespace goscry {

// Limits: a config or PEM file of more than this is a mistake, not a config.
inline constexpr std::size_t kMaxConfigFileBytes = 4u << 20;

// An open, regular file (the fd is closed by the destructor).
class InputFile {
 public:
  // Fails with one sentence naming `path` and `what` it should be: "--config /tmp: a
  // directory, not a file".
  static Result<InputFile> open(const std::string& path, const std::string& what);
  InputFile(InputFile&& o) noexcept : fd_(o.fd_), size_(o.size_) { o.fd_ = -1; }
  InputFile& operator=(InputFile&&) = delete;
  ~InputFile();
  int fd() const { return fd_; }
  std::size_t size() const { return size_; }

 private:
  InputFile(int fd, std::size_t size) : fd_(fd), size_(size) {}
  int fd_ = -1;
  std::size_t size_ = 0;
};

// The whole of a regular file of at most `max_bytes`; `what` names it in errors
// ("--config", "cert_file"): "cert_file /x: a FIFO, not a regular file".
Result<std::string> read_input_file(const std::string& path, const std::string& what,
                                    std::size_t max_bytes = kMaxConfigFileBytes);

}  // namespace goscry
