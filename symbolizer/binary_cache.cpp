#include "symbolizer/binary_cache.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace goscry {

Result<FileIdentity> file_identity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail_errno(errno, path);
  if (!S_ISREG(st.st_mode)) return fail(ErrorKind::Unsupported, path + ": not a regular file");
  return FileIdentity{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                      static_cast<std::uint64_t>(st.st_size),
                      std::int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

std::string binary_cache_key(const ElfFile& elf, const std::string& path, const FileIdentity& id) {
  std::string size = std::to_string(id.size);
  if (auto b = elf.build_id()) return "build-id:" + *b + ":" + size;
  if (auto g = elf.go_build_id()) return "go-build-id:" + *g + ":" + size;
  return "file:" + path + ":" + std::to_string(id.dev) + ":" + std::to_string(id.inode) + ":" +
         std::to_string(id.mtime_ns);
}

}  // namespace goscry
